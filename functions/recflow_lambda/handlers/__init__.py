"""Lambda entry points, one module per function: ``recflow_lambda.handlers.<module>.handler``."""
