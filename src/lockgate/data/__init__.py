"""The data stage: contracts, sources, normalisation, validation at the door,
quarantine and versioned Delta tables."""

from lockgate.data.contract import ColumnSpec, Contract, SchemaPolicy, load_contract
from lockgate.data.contract_versions import ContractApplied, apply_contract
from lockgate.data.errors import (
    ContractError,
    QuarantineShareError,
    SchemaChangeError,
    SourceError,
    SourceUnreachableError,
)
from lockgate.data.finding import Finding
from lockgate.data.inference import DraftContract, infer_contract
from lockgate.data.ingestion import IngestOptions, IngestResult, contract_for, ingest, read
from lockgate.data.quarantine import ReleaseResult
from lockgate.data.quarantine import export as export_quarantine
from lockgate.data.release import quarantined, release
from lockgate.data.source import CsvDialect, FileSource, FrameSource, RecordsSource, SqlSource
from lockgate.data.stream import StreamConfig, StreamStats, consume
from lockgate.data.tables import list_tables, versions
from lockgate.data.training_gate import (
    TrainingDataWarning,
    UnvalidatedDataError,
    read_for_training,
    training_findings,
)

__all__ = [
    "ColumnSpec",
    "Contract",
    "ContractApplied",
    "ContractError",
    "CsvDialect",
    "DraftContract",
    "FileSource",
    "Finding",
    "FrameSource",
    "IngestOptions",
    "IngestResult",
    "QuarantineShareError",
    "RecordsSource",
    "ReleaseResult",
    "SchemaChangeError",
    "SchemaPolicy",
    "SourceError",
    "SourceUnreachableError",
    "SqlSource",
    "StreamConfig",
    "StreamStats",
    "TrainingDataWarning",
    "UnvalidatedDataError",
    "apply_contract",
    "consume",
    "contract_for",
    "export_quarantine",
    "infer_contract",
    "ingest",
    "list_tables",
    "load_contract",
    "quarantined",
    "read",
    "read_for_training",
    "release",
    "training_findings",
    "versions",
]
