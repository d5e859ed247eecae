#!/bin/sh
# The chaos test (tests/integration/chaos.sh) in its short form for make check: a fixed
# seed, about 60 seconds of faults, then heal and converge. `make chaos SEED=N
# DURATION=S` runs the long form.
: "${CHAOS_SEED:=20261201}"
: "${CHAOS_DURATION:=60}"
export CHAOS_SEED CHAOS_DURATION
exec sh "$(dirname "$0")/chaos.sh"
