# Sourced by binder/postBuild (image build) and binder/start (every session start), so the
# numba cache written while building is the one read at run time.
#
# NUMBA_CACHE_DIR: inside $HOME, which is part of the image, so the build's cache files are
#   still there when a session starts (and writable by the session's user).
# NUMBA_CPU_NAME=generic: compile for a baseline x86-64 CPU instead of the build host's CPU.
#   Numba keys cache entries on the CPU name and features; Binder builds an image on one host
#   and runs it on others, so a host-specific cache would be rejected (or worse, use
#   instructions the run host lacks). "generic" also implies no extra CPU features.
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-${HOME}/.cache/tlbwidgets/numba}"
export NUMBA_CPU_NAME="${NUMBA_CPU_NAME:-generic}"
