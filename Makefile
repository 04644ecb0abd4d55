# epcap: `make demo` and `make test` work on a fresh Debian machine; both
# install what is missing (as root), or print the command to do so.
REBAR ?= rebar3
# RESTRICT_PROCESS and PFRING reach c_src/Makefile through the
# environment or the command line (make passes both down).

# Debian packages: build, test, and the tools the tests compare against.
DEPS_BUILD := erlang-nox erlang-dev erlang-common-test erlang-eunit \
	erlang-dialyzer erlang-tools erlang-edoc erlang-xmerl \
	erlang-syntax-tools erlang-parsetools rebar3 libpcap-dev \
	libseccomp-dev make gcc
# Every tool a test stage runs is here: tools/run-tests fails (never
# skips) a stage whose tool is missing.
DEPS_TEST := tcpdump tshark wireshark-common iproute2 iputils-ping util-linux procps \
	clang libclang-rt-14-dev valgrind libcap2-bin elixir \
	clang-format clang-tidy cppcheck git passwd sudo python3 curl ethtool
DEPS_BENCH := tcpdump tcpreplay iproute2 gnuplot-nox gcc tcpflow python3 curl ethtool \
	time wireshark-common
DEPS_DEMO := erlang-nox erlang-dev rebar3 libpcap-dev libseccomp-dev make gcc

.PHONY: all compile demo sniff test deps-build deps-test deps-demo \
	deps-bench modes setcap fuzz bench chart dialyzer xref docs clean

all: compile

deps-build: ; @sh tools/ensure-deps $(DEPS_BUILD)
deps-test: ; @sh tools/ensure-deps $(DEPS_BUILD) $(DEPS_TEST)
deps-demo: ; @sh tools/ensure-deps $(DEPS_DEMO)
deps-bench: ; @sh tools/ensure-deps $(DEPS_BUILD) $(DEPS_BENCH)

compile: deps-build
	$(REBAR) compile

# The port program in every Linux restriction mode, for the mode groups
# of the test suite: priv/epcap (seccomp), priv/epcap-rlimit, -null.
modes:
	$(MAKE) -C c_src RESTRICT_PROCESS=rlimit TARGET=../priv/epcap-rlimit
	$(MAKE) -C c_src RESTRICT_PROCESS=null TARGET=../priv/epcap-null

demo: deps-demo
	@$(REBAR) compile >/dev/null
	@sh tools/demo test/data/veth_mixed.pcap

IFACE ?= lo
FILTER ?=
sniff: compile
	bin/epcap-sniff -i $(IFACE) $(if $(FILTER),'$(FILTER)')

test: deps-test
	@sh tools/run-tests

# Capture without root: `sudo make setcap`, or for another copy of the
# port (a dependency's, a release's) `sudo make setcap PORT=path/to/epcap`.
# The capabilities go to the members of one group only (SETCAP_GROUP,
# `pcap` by default, made if missing), as Wireshark's dumpcap does with
# `wireshark`: the file becomes root:pcap 0750, so that other local users
# cannot run it. The user behind sudo is added to the group (a new login,
# or `newgrp pcap`, makes it count). Only the port is built here, and as
# that user, never as root (root-owned objects would break the user's next
# build); c_src relinks only on a change, so later builds keep the
# capabilities until a relink.
PORT ?= priv/epcap
SETCAP_GROUP ?= pcap
setcap:
	@[ "$$(id -u)" = 0 ] || { echo "make setcap: run it as root (sudo make setcap)" >&2; exit 1; }
	@if [ "$(PORT)" = priv/epcap ]; then \
	  if [ -n "$${SUDO_UID:-}" ] && [ "$${SUDO_UID}" != 0 ]; then \
	    setpriv --reuid="$$SUDO_UID" --regid="$${SUDO_GID:-$$SUDO_UID}" --init-groups \
	      env HOME="$$(getent passwd "$$SUDO_UID" | cut -d: -f6)" $(MAKE) -s -C c_src; \
	  else $(MAKE) -s -C c_src; fi; fi
	@getent group $(SETCAP_GROUP) >/dev/null || groupadd --system $(SETCAP_GROUP)
	@if [ -n "$${SUDO_USER:-}" ] && [ "$${SUDO_USER}" != root ]; then \
	  id -nG "$$SUDO_USER" | tr ' ' '\n' | grep -qx $(SETCAP_GROUP) || \
	    { usermod -aG $(SETCAP_GROUP) "$$SUDO_USER" && \
	      echo "added $$SUDO_USER to group $(SETCAP_GROUP): log in again (or run newgrp $(SETCAP_GROUP)) for it to count"; }; fi
	chown root:$(SETCAP_GROUP) $(PORT)
	chmod 0750 $(PORT)
	setcap cap_net_raw,cap_net_admin=ep $(PORT)
	@getcap $(PORT)
	@ls -l $(PORT)
	@echo "only root and members of group $(SETCAP_GROUP) may run $(PORT); add a user with: sudo usermod -aG $(SETCAP_GROUP) USER"

fuzz:
	$(MAKE) -C c_src fuzz

bench: deps-bench compile
	$(MAKE) -C bench bench

chart: deps-bench
	$(MAKE) -C bench chart

dialyzer: ; $(REBAR) dialyzer
xref: ; $(REBAR) xref
docs: ; $(REBAR) edoc

clean:
	$(REBAR) clean
	rm -rf _build priv/epcap priv/epcap-* c_src/obj
