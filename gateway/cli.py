"""The ``gateway`` command line: keys, validation, signing and verification, configuration checks.

Every failure ends with one line ``error [code]: message`` on stderr and a non-zero exit status
(1 for a refused input, 2 for a usage error), so scripts can branch on the code. Nothing here
prints key material.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from gateway import __version__, identity, receipts, schemas, xmlsafe
from gateway import config as cfg
from gateway.cli_options import config_option
from gateway.config import PARTICIPANT_ID
from gateway.crypto import (
    PROFILES,
    AnyPrivateKey,
    CmsSigner,
    TrustPolicy,
    issue_certificate,
    load_certificates,
    load_signature,
    load_signing_key,
    new_ca,
    write_certificate,
    write_private_key,
)
from gateway.crypto.cms import describe
from gateway.errors import GatewayError, SchemaError
from gateway.model import ErrorReport, Message, Receipt

F = TypeVar("F", bound=Callable[..., Any])
EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def fail(error: GatewayError) -> NoReturn:
    click.secho(f"error [{error.code}]: {error.message}", fg="red", err=True)
    sys.exit(1)


def reports_errors(func: F) -> F:
    """Turn a GatewayError into the one-line error and exit status 1."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GatewayError as exc:
            fail(exc)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gateway")
def main() -> None:
    """Interregional document exchange gateway."""


# --- keys -------------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """Demo PKI: a CA and participant keys and certificates."""


@keys.command("new")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default="keys",
    show_default=True,
    help="Folder for the files; a CA already there (ca.pem + ca.key) is reused.",
)
@click.option(
    "--participant",
    "participants",
    multiple=True,
    required=True,
    metavar="ID[=ORGANISATION]",
    help="A participant to issue a key and certificate for; repeat for several.",
)
@click.option("--profile", type=click.Choice(PROFILES), default="ecdsa", show_default=True)
@click.option(
    "--days",
    type=click.IntRange(1, 3650),
    default=730,
    show_default=True,
    help="Validity of each participant certificate.",
)
@click.option("--force", is_flag=True, help="Replace a participant's existing key and certificate.")
@reports_errors
def keys_new(
    out: Path, participants: tuple[str, ...], profile: str, days: int, force: bool
) -> None:
    """Create a demo CA (unless one exists in --out) and a key + certificate per participant.

    Writes ca.pem, ca.key and, per participant, ID.pem and ID.key (keys are readable by their
    owner only). For a certificate rollover, issue the new certificate into another folder with
    the same CA (copy ca.pem and ca.key there) and list both certificates in participants.toml.
    """
    for spec in participants:
        pid = spec.partition("=")[0]
        if not PARTICIPANT_ID.fullmatch(pid):
            raise click.BadParameter(
                f"{pid!r} is not a participant id (lower-case letters, digits, '.', '-')",
                param_hint="--participant",
            )
    out.mkdir(parents=True, exist_ok=True)
    ca_pem, ca_key_path = out / "ca.pem", out / "ca.key"
    if ca_pem.exists() != ca_key_path.exists():
        present, missing = (ca_pem, ca_key_path) if ca_pem.exists() else (ca_key_path, ca_pem)
        raise GatewayError(
            f"{present} exists but {missing} does not; restore the pair, or remove both to "
            "make a new CA (every certificate it issued then needs reissuing)",
            code="keys.ca_incomplete",
        )
    ca_key: AnyPrivateKey
    if ca_pem.exists():
        ca_cert = load_certificates(ca_pem)[0]
        ca_key = load_signing_key(ca_key_path)
        click.echo(f"using the existing CA {describe(ca_cert)}")
    else:
        ca_cert, ca_key = new_ca(profile=profile)
        write_certificate(ca_cert, ca_pem)
        write_private_key(ca_key, ca_key_path)
        click.echo(f"created CA {describe(ca_cert)}: {ca_pem} (key {ca_key_path})")
    for spec in participants:
        pid, _, organization = spec.partition("=")
        cert_path, key_path = out / f"{pid}.pem", out / f"{pid}.key"
        if not force and (cert_path.exists() or key_path.exists()):
            raise GatewayError(
                f"{cert_path} already exists; use --force to replace it, or --out another folder",
                code="keys.exists",
            )
        for path in (cert_path, key_path):
            path.unlink(missing_ok=True)
        cert, key = issue_certificate(
            ca_cert, ca_key, pid, organization or pid, profile=profile, days=days
        )
        write_private_key(key, key_path)
        write_certificate(cert, cert_path)
        until = cert.not_valid_after_utc
        click.echo(
            f"issued {describe(cert)} valid until {until:%Y-%m-%d}: {cert_path} (key {key_path})"
        )


# --- validate -----------------------------------------------------------------------------------


@main.command()
@click.argument("file", type=EXISTING_FILE)
@click.option(
    "--explain", is_flag=True, help="On a schema error, list every violation with its path."
)
def validate(file: Path, explain: bool) -> None:
    """Check an envelope, receipt or error document against the gateway's schemas."""
    data = file.read_bytes()
    try:
        document = receipts.read(data)
    except GatewayError as exc:
        if explain and isinstance(exc, SchemaError) and exc.code == "xml.schema_invalid":
            kind = _kind_of(data)
            if kind is not None:
                for line in schemas.explain(data, kind):
                    click.echo(f"  {line}", err=True)
        fail(exc)
    click.echo(f"valid {_summary(document)}")


def _kind_of(data: bytes) -> schemas.Kind | None:
    try:
        return schemas.kind_of(xmlsafe.parse(data))
    except GatewayError:
        return None


def _summary(document: Message | Receipt | ErrorReport) -> str:
    if isinstance(document, Message):
        files = len(document.files)
        return (
            f"envelope: message {document.message_id} ({document.type.value}, "
            f"{document.sender} → {document.recipient}), {files} file{'s' * (files != 1)}"
        )
    if isinstance(document, Receipt):
        verdict = "accepted" if document.accepted else "not accepted"
        return f"receipt: message {document.message_id} {verdict} by {document.sender}"
    return f"error document: [{document.code}] {document.message}"


# --- sign / verify ------------------------------------------------------------------------------


@main.command()
@click.argument("file", type=EXISTING_FILE)
@config_option
@click.option(
    "--certificate",
    type=EXISTING_FILE,
    help="Sign with this certificate (PEM, chain after it) instead of the configured one.",
)
@click.option("--key", type=EXISTING_FILE, help="The private key that goes with --certificate.")
@click.option("--pss", is_flag=True, help="With an RSA key given by --key: sign with RSA-PSS.")
@click.option("--force", is_flag=True, help="Replace an existing FILE.p7s.")
@reports_errors
def sign(
    file: Path,
    config_path: Path,
    certificate: Path | None,
    key: Path | None,
    pss: bool,
    force: bool,
) -> None:
    """Write FILE.p7s: a detached CMS signature (DER) of FILE under the gateway's key."""
    if (certificate is None) != (key is None):
        raise click.UsageError("--certificate and --key go together")
    if certificate is not None and key is not None:
        signer = CmsSigner.from_files(certificate, key, rsa_pss=pss)
    else:
        signer = identity.signer_for(_config(config_path).keys)
    target = file.with_name(file.name + ".p7s")
    if target.exists() and not force:
        raise GatewayError(
            f"{target} already exists; use --force to replace it", code="sign.exists"
        )
    with file.open("rb") as content:
        signature = signer.sign_stream(content)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(signature)
    os.replace(tmp, target)
    click.echo(f"signed by {describe(signer.certificate)}: {target} ({len(signature)} bytes)")


@main.command()
@click.argument("file", type=EXISTING_FILE)
@click.option(
    "--signature",
    "signature_path",
    type=EXISTING_FILE,
    help="The detached signature (DER or base64/PEM); default FILE.p7s.",
)
@click.option(
    "--ca",
    "anchors",
    multiple=True,
    type=EXISTING_FILE,
    help="Trust anchors (PEM) for a one-off check, instead of the configured ones.",
)
@click.option("--participant", help="Also require a certificate registered for this participant.")
@config_option
@reports_errors
def verify(
    file: Path,
    signature_path: Path | None,
    anchors: tuple[Path, ...],
    participant: str | None,
    config_path: Path,
) -> None:
    """Verify a detached CMS signature of FILE and the signer's chain to the trust anchors."""
    signature_path = signature_path or file.with_name(file.name + ".p7s")
    if not signature_path.exists():
        raise click.UsageError(f"no signature given and {signature_path} does not exist")
    signature = load_signature(signature_path.read_bytes())
    if anchors:
        if participant:
            raise click.UsageError("--participant needs the configured participants, not --ca")
        policy = TrustPolicy(identity.trust_store(anchors), {})
    else:
        config = _config(config_path)
        participants = cfg.load_participants(config.participants_file)
        policy = identity.trust_policy(config.keys.trust_anchors, participants)
    with file.open("rb") as content:
        if participant:
            verified = policy.verify_from(participant, content, signature)
        else:
            verified = policy.verify_any(content, signature)
    when = verified.signing_time.isoformat() if verified.signing_time else "no signing time"
    click.echo(f"signature valid: signed by {describe(verified.certificate)}")
    click.echo(
        f"  signed at {when}; {verified.signature_algorithm} with {verified.digest_algorithm}"
    )
    if not participant:
        click.echo("  the chain to the trust anchors was checked; which participant signed was not")
        click.echo("  (add --participant ID to require a certificate registered for it)")


def _config(path: Path) -> cfg.GatewayConfig:
    return cfg.load(path)


# --- config -------------------------------------------------------------------------------------


@main.group("config")
def config_group() -> None:
    """Configuration tools."""


@config_group.command("check")
@config_option
@click.option(
    "--at",
    "at",
    type=click.DateTime(),
    help="Check as of this time (UTC), e.g. a planned rollover.",
)
def config_check(config_path: Path, at: dt.datetime | None) -> None:
    """Check gateway.toml, participants.toml, keys, certificates and their expiry."""
    now = at.replace(tzinfo=dt.UTC) if at else None
    errors = warnings = 0
    colours = {"ok": "green", "warning": "yellow", "error": "red"}
    for finding in identity.check(config_path, now=now):
        errors += finding.level == "error"
        warnings += finding.level == "warning"
        click.secho(f"{finding.level:>7}  {finding.text}", fg=colours[finding.level])
    click.echo(f"{errors} error(s), {warnings} warning(s)")
    sys.exit(1 if errors else 0)


# --- run ----------------------------------------------------------------------------------------


@main.command()
@config_option
@click.option("--log-level", type=click.Choice(["debug", "info", "warning"]), default="info",
              show_default=True)  # fmt: skip
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: one object per line, with message_id")  # fmt: skip
def run(config_path: Path, log_level: str, log_format: str) -> None:
    """Run the gateway: wire endpoint, local API, delivery and hand-off, until SIGTERM."""
    from gateway import logs
    from gateway.app import serve

    logs.configure(log_level, log_format)
    try:
        ident = identity.load(config_path)
    except GatewayError as exc:
        fail(exc)
    config = ident.config
    scheme = "https" if config.tls else "http"
    click.echo(
        f"gateway {config.participant} on {scheme}://{config.listen_host}:{config.listen_port}"
    )
    try:
        serve(ident)
    except GatewayError as exc:
        fail(exc)


from gateway.cli_convert import convert  # noqa: E402
from gateway.cli_db import db  # noqa: E402
from gateway.cli_demo import demo  # noqa: E402
from gateway.cli_queue import audit_group, queue  # noqa: E402  -- they import nothing from here

main.add_command(queue)
main.add_command(audit_group)
main.add_command(convert)
main.add_command(demo)
main.add_command(db)

if __name__ == "__main__":
    main()
