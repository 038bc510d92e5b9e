"""The backup.s3 block of a test daemon's configuration, for the S3 server
that a test's `s3` fixture started (scripts/s3-server): the secret goes to
a 0600 file, never into the YAML."""


def s3_backup_yaml(s3, secret_dir, prefix, *, put_only=None, allowed_regions=None):
    secret = secret_dir / "s3.secret"
    secret.write_text(s3["AWS_SECRET_ACCESS_KEY"] + "\n")
    secret.chmod(0o600)
    text = f"""  s3:
    endpoint: {s3['S3_ENDPOINT']}
    region: us-east-1
    bucket: {s3['S3_BUCKET']}
    prefix: {prefix}
    access_key_id: {s3['AWS_ACCESS_KEY_ID']}
    secret_access_key_file: {secret}
    path_style: true
"""
    if put_only is not None:
        text += f"    put_only: {'true' if put_only else 'false'}\n"
    if allowed_regions is not None:
        text += f"  allowed_regions: [{', '.join(allowed_regions)}]\n"
    return text
