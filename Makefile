# Shoal developer entry points.

# The local DNS lab (see `swift run shoal-lab --help`): LAB_DIR and LAB_FLAGS (e.g.
# LAB_FLAGS="--prefix 127.56 --zones 50") choose where and what; SWIFT_FLAGS is passed to
# `swift run` (e.g. SWIFT_FLAGS="--scratch-path .build-lab").
LAB_DIR ?= lab
LAB_FLAGS ?=
SWIFT_FLAGS ?=

.PHONY: lab-up lab-down lab-status

lab-up:
	swift run $(SWIFT_FLAGS) shoal-lab up --dir $(LAB_DIR) $(LAB_FLAGS)

lab-down:
	swift run $(SWIFT_FLAGS) shoal-lab down --dir $(LAB_DIR)

lab-status:
	swift run $(SWIFT_FLAGS) shoal-lab status --dir $(LAB_DIR)
