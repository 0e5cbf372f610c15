"""Solvers shared by the tasks: Richardson–Lucy (plain, accelerated, TV) and Wiener, written once against a
physics object's ``A``/``A_adjoint``."""
