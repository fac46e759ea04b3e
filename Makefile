# Shoal developer entry points.

# The local DNS lab (see `swift run shoal-lab --help`): LAB_DIR and LAB_FLAGS (e.g.
# LAB_FLAGS="--prefix 127.56 --zones 50") choose where and what; SWIFT_FLAGS is passed to
# `swift run` (e.g. SWIFT_FLAGS="--scratch-path .build-lab").
LAB_DIR ?= lab
LAB_FLAGS ?=
SWIFT_FLAGS ?=

.PHONY: lab-up lab-down lab-status demo

lab-up:
	swift run $(SWIFT_FLAGS) shoal-lab up --dir $(LAB_DIR) $(LAB_FLAGS)

lab-down:
	swift run $(SWIFT_FLAGS) shoal-lab down --dir $(LAB_DIR)

lab-status:
	swift run $(SWIFT_FLAGS) shoal-lab status --dir $(LAB_DIR)

# The fleet demo (as root): the lab, a nats-server and two shoald nodes with bridges under load;
# node B is restarted with its segment removed and warms up from node A, shown live and plotted
# in demo-out/. DEMO_FLAGS: see `scripts/demo --help`; SHOAL_SCRATCH: the release build's
# scratch path (default .build).
DEMO_FLAGS ?=

demo:
	bash scripts/demo $(DEMO_FLAGS)
