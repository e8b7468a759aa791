"""Errors the engine raises for bad user input; each names the input it is about."""


class SemanticDrawInputError(ValueError):
    """Bad input to a SemanticDraw computation, with the name of the offending input.

    Nodes catch it and re-raise with their own name prefixed, so a user reads e.g.
    ``SemanticDraw Sampler: regions[2].mask is empty (all zeros)``.
    """

    def __init__(self, input_name: str, problem: str):
        self.input_name = input_name
        self.problem = problem
        super().__init__(f"{input_name}: {problem}")
