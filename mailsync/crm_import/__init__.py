"""CSV import of CRM records (users, accounts, contacts, opportunities).

``import_file(KINDS["accounts"], path, session)`` checks every row against
the file and the store, then writes all good rows (or none, by default)
through crm_store's set-based upserts. The caller commits.
"""

from mailsync.crm_import.csv_file import CsvFileError
from mailsync.crm_import.importer import import_file
from mailsync.crm_import.kinds import KINDS, ImportKind
from mailsync.crm_import.report import BadRow, ImportReport

__all__ = ["KINDS", "BadRow", "CsvFileError", "ImportKind", "ImportReport", "import_file"]
