#!/usr/bin/env python3
"""An independent view of an S3 bucket for the tests, through boto3 (not our client).

Usage: s3-oracle.py --endpoint http://127.0.0.1:PORT --bucket B COMMAND [ARGS]
Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.

Commands (each prints one JSON document):
  objects [PREFIX]          every object under PREFIX (recursive): key, size, etag, metadata,
                            checksumCRC32C (the store's, if the object has one), tags
  uploads                   multipart uploads in progress: key, uploadId
  get KEY FILE              download KEY into FILE; prints size
  put KEY FILE [k=v ...]    upload FILE as KEY with user metadata
  fill PREFIX N SOURCE      N objects PREFIX-<i> copied from SOURCE's bytes (for listing tests)
  delete-all                remove every object and abort every upload
"""
import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config


def want_checksum(request, **_):
    request.headers["x-amz-checksum-mode"] = "ENABLED"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("command")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    s3 = boto3.client(
        "s3",
        endpoint_url=a.endpoint,
        region_name=a.region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}, max_pool_connections=32),
    )
    b = a.bucket
    if a.command == "objects":
        prefix = a.args[0] if a.args else ""
        out = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b, Prefix=prefix):
            for o in page.get("Contents", []):
                out.append({"key": o["Key"], "size": o["Size"], "etag": o["ETag"]})
        with_meta = len(out) <= 200
        # Ask for the stored checksum by header: botocore's ChecksumMode would insist on
        # validating a CRC-32C itself, which needs the optional awscrt package.
        s3.meta.events.register("before-sign.s3.HeadObject", want_checksum)
        for o in out if with_meta else []:
            head = s3.head_object(Bucket=b, Key=o["key"])
            o["metadata"] = head["Metadata"]
            o["checksumCRC32C"] = head["ResponseMetadata"]["HTTPHeaders"].get("x-amz-checksum-crc32c")
            o["tags"] = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=b, Key=o["key"])["TagSet"]}
        print(json.dumps(out))
    elif a.command == "uploads":
        r = s3.list_multipart_uploads(Bucket=b)
        print(json.dumps([{"key": u["Key"], "uploadId": u["UploadId"]} for u in r.get("Uploads", [])]))
    elif a.command == "get":
        key, path = a.args
        s3.download_file(b, key, path)
        print(json.dumps({"key": key}))
    elif a.command == "put":
        key, path, *meta = a.args
        metadata = dict(m.split("=", 1) for m in meta)
        with open(path, "rb") as f:
            s3.put_object(Bucket=b, Key=key, Body=f.read(), Metadata=metadata, ContentType="application/octet-stream")
        print(json.dumps({"key": key}))
    elif a.command == "fill":
        prefix, n, source = a.args[0], int(a.args[1]), a.args[2]
        with open(source, "rb") as f:
            body = f.read()

        def put(i: int) -> None:
            s3.put_object(Bucket=b, Key=f"{prefix}{i}", Body=body, ContentType="application/octet-stream")

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(put, range(n)))
        print(json.dumps({"count": n}))
    elif a.command == "delete-all":
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b):
            for o in page.get("Contents", []):
                s3.delete_object(Bucket=b, Key=o["Key"])
        for u in s3.list_multipart_uploads(Bucket=b).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=b, Key=u["Key"], UploadId=u["UploadId"])
        print("{}")
    else:
        print(f"unknown command {a.command}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
