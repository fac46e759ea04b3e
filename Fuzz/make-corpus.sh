#!/usr/bin/env bash
# Regenerates the seed corpus Fuzz/corpus/message from Tests/DNSCoreTests/TestSupportSamples.swift.
# Only needed when the samples change; CI uses the committed files.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/corpus/message"
lines=$(swift run -c debug --package-path "$here" --scratch-path "$here/.build-corpus" MakeCorpus)
mkdir -p "$out"
rm -f "$out"/*
n=0
while IFS=$'\t' read -r name hex; do
    printf '%b' "$(printf '%s' "$hex" | sed 's/../\\x&/g')" > "$out/$name"
    n=$((n + 1))
done <<< "$lines"
echo "wrote $n seeds to $out"
