"""json-records in Python: the twin of workloads/src/json_records.rs.

A JSON document ``{"count": n, "records": [...]}`` of N records (an id, a
name, a score, a list of two tags and a nested address dict) decoded with
``json.loads`` (phase ``build``; the text is made before it and dropped
after), then one pass reading every field (phase ``compute``), then dropped
(phase ``teardown``).
"""

import json

import heaplab_measure as measure

WORKLOADS = ("json-records",)


def document_text(n):
    parts = []
    for i in range(n):
        parts.append(
            '{"id": %d, "name": "user%d", "score": %r, "tags": ["t%d", "t%d"], '
            '"address": {"city": "city%d", "zip": %d}}'
            % (i, i, i * 0.25, i % 5, i % 3, i % 100, 10000 + i % 90000)
        )
    return '{"count": %d, "records": [%s]}' % (n, ", ".join(parts))


def main():
    args = measure.parse_args(__doc__, WORKLOADS)
    checksum = measure.checksum_for(args)
    n_records = args.size
    text = document_text(n_records)

    recorder = measure.Recorder(args)

    recorder.phase("build")
    document = json.loads(text)
    text = None

    recorder.phase("compute")
    checksum.word(document["count"])
    for record in document["records"]:
        checksum.word(record["id"])
        checksum.bytes(record["name"].encode("ascii"))
        checksum.float(record["score"])
        for tag in record["tags"]:
            checksum.bytes(tag.encode("ascii"))
        address = record["address"]
        checksum.bytes(address["city"].encode("ascii"))
        checksum.word(address["zip"])
    record = address = None

    recorder.phase("teardown")
    document = None

    recorder.finish(checksum, ops=n_records)


if __name__ == "__main__":
    main()
