"""Everything one Greenlight process works with, opened once.

The API, the web pages, the CLI and the demo all start from
``Platform.open(settings)``: the database, the ledger, the blob store, the
studio's signing identity and the pluggable parts (policy, likeness scanner,
backends).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import cast

from greenlight.backends import Backend, backend_for
from greenlight.core.errors import NotFound
from greenlight.core.settings import Settings
from greenlight.engine.commits import GroupCommit
from greenlight.ledger import Ledger
from greenlight.likeness import LikenessScanner, NoScan, default_scanner
from greenlight.likeness.scan import Scope
from greenlight.policy import CedarPolicy, PolicyEngine
from greenlight.provenance import SigningIdentity, init_identity
from greenlight.store import BlobStore, Database
from greenlight.store.registry import RecordCache, RegistryCache

# Uploads larger than this are refused (a 4K 16-bit EXR plate is about 100 MB).
DEFAULT_MAX_UPLOAD = 512 * 1024 * 1024


@functools.cache
def shipped_policy() -> CedarPolicy:
    """The Cedar rules shipped with Greenlight, loaded and validated once per process."""
    return CedarPolicy.load()


@dataclass
class Platform:
    """The database, ledger, blobs and signing identity, plus the pluggable parts."""

    settings: Settings
    db: Database
    ledger: Ledger
    blobs: BlobStore
    policy: PolicyEngine = field(default_factory=lambda: shipped_policy())
    scanner: LikenessScanner = field(default_factory=NoScan)
    backends: Callable[[str], Backend] = backend_for
    max_upload: int = DEFAULT_MAX_UPLOAD
    registry: RegistryCache = field(default_factory=RegistryCache)
    records: RecordCache = field(default_factory=RecordCache)  # rows never changed once written
    commits: GroupCommit = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.commits = GroupCommit(self.db, self.ledger)
        if self.backends is backend_for:  # configured by this installation, not the environment
            self.backends = partial(backend_for, settings=self.settings)

    @classmethod
    def open(cls, settings: Settings, *, create_identity: bool = True) -> Platform:
        """Open (and migrate) the installation in ``settings``.

        With ``create_identity`` a missing signing identity is created on the
        spot, as ``greenlight init`` would; without it, its absence is an error
        when the first output is signed.
        """
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database.open(settings)
        blobs = BlobStore(settings.data_dir / "blobs")
        platform = cls(
            settings=settings,
            db=db,
            ledger=Ledger.open(settings, db),
            blobs=blobs,
            # Enrolled performers' faces and voices, when the face models are installed.
            scanner=default_scanner(
                db, blobs, settings.keys_dir, scope=cast(Scope, settings.likeness_scope)
            ),
        )
        if create_identity:
            platform.ensure_identity()
        return platform

    def ensure_identity(self) -> None:
        """Create the studio's signing identity unless one exists."""
        try:
            SigningIdentity.load(self.settings)
        except NotFound:
            init_identity(self.settings)

    @cached_property
    def identity(self) -> SigningIdentity:
        """The studio's signing identity, loaded on first use."""
        return SigningIdentity.load(self.settings)

    @property
    def work_dir(self) -> str:
        """Scratch space for backend runs (inside the data directory, same filesystem)."""
        path = self.settings.data_dir / "work"
        path.mkdir(parents=True, exist_ok=True)
        return str(path)

    def close(self) -> None:
        """Finish queued writes and release database connections."""
        self.commits.close()
        self.db.close()
