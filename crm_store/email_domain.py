"""An address's domain as one SQL expression, the same on SQLite and PostgreSQL.

The add-in's lookup selects our users and mailboxes by the domain of their
address (``crm_store.record_reach``), and the indexes of revision 0011 are on
this very expression: a planner uses an expression index only for the
expression it was built on, so the query and the schema must share one
spelling per backend (SQLite's ``instr``, PostgreSQL's ``strpos``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class email_domain(FunctionElement[str]):
    """The lower-cased part of an address after its '@' (addresses carry exactly one)."""

    type = String()
    inherit_cache = True


@compiles(email_domain, "postgresql")
def _email_domain_postgresql(element: email_domain, compiler: SQLCompiler, **kw: Any) -> str:
    address = compiler.process(next(iter(element.clauses)), **kw)
    return f"lower(substr({address}, strpos({address}, '@') + 1))"


@compiles(email_domain)
def _email_domain_sqlite(element: email_domain, compiler: SQLCompiler, **kw: Any) -> str:
    address = compiler.process(next(iter(element.clauses)), **kw)
    return f"lower(substr({address}, instr({address}, '@') + 1))"
