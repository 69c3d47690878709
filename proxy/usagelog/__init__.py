"""The usage log: one durable JSON line per finished request.

``writer`` (the queue and the thread that writes and fsyncs), ``file`` (appending whole lines,
rotation), ``line`` (the line format, both ways) and ``history`` (the retained files read back
for replay at start, and every rotation of it, gzip included, for audits).
"""

from .file import STDOUT, LogFile
from .history import HistorySnapshot, file_lines, log_files, read_lines, rotated_files
from .line import MAX_TEXT, decode_line, encode_line, iso_time
from .writer import Ledger, uses_file

__all__ = [
    "MAX_TEXT",
    "STDOUT",
    "HistorySnapshot",
    "Ledger",
    "LogFile",
    "decode_line",
    "encode_line",
    "file_lines",
    "iso_time",
    "log_files",
    "read_lines",
    "rotated_files",
    "uses_file",
]
