"""The pipeline on one machine: the SAM stack deployed into moto, the handlers in-process, the ETL on DuckDB.

Before moto is imported (it makes botocore sessions as it loads), botocore sessions are made to share
their parsed data files: see botocore_data.py.
"""

from recflow.offline.botocore_data import share_data_loaders

share_data_loaders()
