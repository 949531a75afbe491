"""Tagging whole catalogues: record readers, resumable output, local worker pool, Ray."""

from ._local import BatchSummary, run_batch
from ._records import SourceRecord, completed_keys, count_records, input_format, read_records, resume_key, validate_record

__all__ = [
    "BatchSummary", "SourceRecord", "completed_keys", "count_records", "input_format", "read_records", "resume_key",
    "run_batch", "run_ray", "validate_record",
]


def run_ray(*args, **kwargs):
    """Tag on Ray Data (needs the ``ray`` extra); see :func:`repotag.batch._ray.run_ray`."""
    from ._ray import run_ray as _run_ray

    return _run_ray(*args, **kwargs)
