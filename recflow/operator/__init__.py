"""`recflow aws`: operate a deployed recflow stack (on AWS or `recflow local serve`) with plain boto3."""
