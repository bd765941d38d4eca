#!/bin/bash
. "${TESTLIB:-$(dirname "$0")/../lib}/hostile.sh"
done_testing
