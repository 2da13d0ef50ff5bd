# Selvedge build. `make` builds the programs; `make test` installs what is
# missing and runs every suite (plain build, ASan+UBSan build, fuzz smoke runs,
# integration tests against a real apiserver); `make bench` runs benchmarks.
# The layering of lib/ is in lib/LAYERS and enforced here and by lint.

CC ?= gcc
CLANG ?= clang
BUILD ?= build
SAN ?= 0
FUZZ_SECONDS ?= 15

PKG_CONFIG ?= pkg-config
PKGS_base :=
PKGS_json := jansson
PKGS_nft := libnftnl libmnl
PKGS_kube := yaml-0.1
PKGS_cni :=
PKGS_operator :=
# libcurl over mbedTLS, and libwebsockets without TLS, are Debian's sources
# built here as static archives, in a cache outside the clone
# (hack/source-libs.sh, which says why).
SRCLIBS := $(shell hack/source-libs.sh prefix)
CURL_LIB := $(SRCLIBS)/lib/libcurl.a
XCFLAGS_kube := -I$(SRCLIBS)/include
XLIBS_kube := $(CURL_LIB) $(SRCLIBS)/lib/libmbedtls.a $(SRCLIBS)/lib/libmbedx509.a \
	$(SRCLIBS)/lib/libmbedcrypto.a -lnghttp2 -lz -lpthread
XCFLAGS_operator := -I$(SRCLIBS)/include
XLIBS_operator := $(SRCLIBS)/lib/libwebsockets.a -lcap

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-unused-parameter -Wvla
CFLAGS_COMMON := -std=gnu11 $(WARN) -g -D_GNU_SOURCE -Ilib -I. -fno-strict-aliasing \
	-fstack-protector-strong -fPIE
ifeq ($(SAN),1)
CFLAGS_COMMON += -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
LDFLAGS_COMMON := -fsanitize=address,undefined -pie
else
# A function or object of its own section, and the linker drops those nothing
# reaches: 0.2 MB less of the operator's code, which is all resident (the
# kernel maps the page cache around each page touched).
CFLAGS_COMMON += -O2 -D_FORTIFY_SOURCE=2 -ffunction-sections -fdata-sections
LDFLAGS_COMMON := -pie -Wl,-z,relro,-z,now -Wl,--gc-sections
endif

# $(call uses,PART): the layers PART may use, from lib/LAYERS.
uses = $(wordlist 2,99,$(shell grep -E '^$(1)( |$$)' lib/LAYERS))
# $(call pkgs,LAYERS): pkg-config packages of those layers.
pkgs = $(strip $(foreach l,$(1),$(PKGS_$(l))))
pkg_cflags = $(foreach l,$(1),$(XCFLAGS_$(l))) \
	$(if $(call pkgs,$(1)),$(shell $(PKG_CONFIG) --cflags $(call pkgs,$(1))))
pkg_libs = $(if $(call pkgs,$(1)),$(shell $(PKG_CONFIG) --libs $(call pkgs,$(1)))) \
	$(foreach l,$(1),$(XLIBS_$(l)))
# Static archives of LAYERS, highest layer first as the linker wants.
archives = $(foreach l,$(shell echo $(1) | tr ' ' '\n' | tac),$(BUILD)/libsv-$(l).a)

LAYERS := $(shell awk '!/^\#/ && NF { print $$1 }' lib/LAYERS)
LIB_LAYERS := $(filter $(LAYERS),$(notdir $(wildcard lib/*)))
PROGRAMS := $(if $(wildcard cni/*.c),$(BUILD)/selvedge-cni) \
	$(if $(wildcard operator/*.c),$(BUILD)/selvedge-operator)
UNIT_SRCS := $(wildcard tests/unit/*/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRCS))
TOOL_SRCS := $(wildcard tests/tools/*/*.c)
TOOL_BINS := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(TOOL_SRCS))
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))

.PHONY: all programs unit-tests tools deps test test-unit test-integration fuzz fuzz-build bench \
	lint format demo clean
.DELETE_ON_ERROR:

all: programs unit-tests tools

programs: $(PROGRAMS)
unit-tests: $(UNIT_BINS)
tools: $(TOOL_BINS)

# Objects of a layer see only their own and their used layers' packages.
# A new libcurl (a new cache directory) rebuilds the objects, so the programs
# relink against it.
define layer_rules
$(BUILD)/lib/$(1)/%.o: lib/$(1)/%.c lib/LAYERS $(CURL_LIB) | layering
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS_COMMON) $$(call pkg_cflags,$(1) $$(call uses,$(1))) -MMD -MP -c $$< -o $$@
$(BUILD)/libsv-$(1).a: $(patsubst lib/$(1)/%.c,$(BUILD)/lib/$(1)/%.o,$(wildcard lib/$(1)/*.c))
	@mkdir -p $$(@D)
	rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach l,$(LIB_LAYERS),$(eval $(call layer_rules,$(l))))

# Programs: PART is the directory name (cni, operator). Everything but main.c
# goes into libsv-PART.a so unit tests and fuzz targets can link it.
define program_rules
$(BUILD)/$(1)/%.o: $(1)/%.c lib/LAYERS $(CURL_LIB) | layering
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS_COMMON) $$(call pkg_cflags,$(1) $$(call uses,$(1))) -MMD -MP -c $$< -o $$@
$(BUILD)/libsv-$(1).a: $(patsubst $(1)/%.c,$(BUILD)/$(1)/%.o,$(filter-out $(1)/main.c,$(wildcard $(1)/*.c)))
	@mkdir -p $$(@D)
	rm -f $$@ && ar rcs $$@ $$^
$(BUILD)/$(2): $(BUILD)/$(1)/main.o $(BUILD)/libsv-$(1).a $$(call archives,$$(call uses,$(1)))
	$$(CC) $$(LDFLAGS_COMMON) -o $$@ $$^ \
		$$(or $$(LINK_LIBS_$(1)),$$(call pkg_libs,$(1) $$(call uses,$(1))))
endef
# selvedge-cni links libnftnl and jansson statically: the runtime starts it
# twice per pod, and the dynamic loader's work for four libraries was about a
# quarter of its CPU time (docs/cni.md). Debian ships no libmnl.a, so libmnl
# and libc stay shared. Sanitizer builds link as usual.
ifneq ($(SAN),1)
LINK_LIBS_cni = -Wl,-Bstatic -lnftnl -ljansson -Wl,-Bdynamic -lmnl
endif
# selvedge-operator links every library Debian ships as an archive statically,
# and jemalloc (built by hack/source-libs.sh, without its profiler, so no
# libm or libgcc_s) as its allocator (docs/operator.md, Memory): shared, OpenSSL
# alone was 4.7 MB of its resident memory (the pages its start-up touches and
# those the kernel maps around them), and glibc's heap kept ~13 MB of freed
# JSON pinned between live blocks. Sanitizer builds keep glibc's allocator,
# which ASan replaces, and link as usual.
ifneq ($(SAN),1)
LINK_LIBS_operator = $(SRCLIBS)/lib/libwebsockets.a -Wl,-Bstatic -lcap -lyaml -ljansson -lnftnl \
	$(CURL_LIB) $(SRCLIBS)/lib/libmbedtls.a $(SRCLIBS)/lib/libmbedx509.a \
	$(SRCLIBS)/lib/libmbedcrypto.a -lnghttp2 -lz $(SRCLIBS)/lib/libjemalloc_pic.a -Wl,-Bdynamic -lmnl -ldl \
	-lpthread
endif
$(eval $(call program_rules,cni,selvedge-cni))
$(eval $(call program_rules,operator,selvedge-operator))

# Unit tests live in tests/unit/<layer>/ and link that layer and what it uses.
define unit_rules
$(BUILD)/tests/unit/$(1)/%: tests/unit/$(1)/%.c $$(call archives,$$(call uses,$(1)) $(1))
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS_COMMON) $$(call pkg_cflags,$(1) $$(call uses,$(1))) \
		$$(shell $$(PKG_CONFIG) --cflags cmocka) $$(LDFLAGS_COMMON) -o $$@ $$^ \
		$$(call pkg_libs,$(1) $$(call uses,$(1))) $$(shell $$(PKG_CONFIG) --libs cmocka)
endef
$(foreach l,$(LAYERS),$(eval $(call unit_rules,$(l))))

# Test drivers the integration tests run live in tests/tools/<layer>/ and link
# like that layer's unit tests.
define tool_rules
$(BUILD)/tests/tools/$(1)/%: tests/tools/$(1)/%.c $$(call archives,$$(call uses,$(1)) $(1))
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS_COMMON) $$(call pkg_cflags,$(1) $$(call uses,$(1))) $$(LDFLAGS_COMMON) \
		-o $$@ $$^ $$(call pkg_libs,$(1) $$(call uses,$(1)))
endef
$(foreach l,$(LAYERS),$(eval $(call tool_rules,$(l))))

# Fuzz targets: tests/fuzz/fuzz_<part>_<what>.c, built with clang's libFuzzer
# against the sources of <part> and the layers it uses.
fuzz_part = $(word 2,$(subst _, ,$(notdir $(1))))
fuzz_layers = $(call fuzz_part,$(1)) $(call uses,$(call fuzz_part,$(1)))
fuzz_srcs = $(foreach l,$(1) $(call uses,$(1)),$(wildcard lib/$(l)/*.c)) \
	$(filter-out $(1)/main.c,$(wildcard $(1)/*.c))
$(BUILD)/fuzz/%: tests/fuzz/%.c $(wildcard lib/*/*.c lib/*/*.h cni/*.c cni/*.h operator/*.c operator/*.h) \
		| layering $(CURL_LIB)
	@mkdir -p $(@D)
	$(CLANG) -std=gnu11 -g -O1 -D_GNU_SOURCE -Ilib -I. -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all $(call pkg_cflags,$(call fuzz_layers,$@)) \
		-o $@ $< $(call fuzz_srcs,$(call fuzz_part,$@)) $(call pkg_libs,$(call fuzz_layers,$@))
fuzz-build: $(FUZZ_BINS)
fuzz: fuzz-build
	hack/run-fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

$(CURL_LIB):
	hack/source-libs.sh

.PHONY: layering
layering:
	@hack/check-layering.sh includes

deps:
	hack/install-deps.sh

test: deps
	hack/run-tests.sh

test-unit: unit-tests
	hack/run-tests.sh unit

test-integration: programs
	hack/run-tests.sh integration

bench: deps
	hack/run-bench.sh

lint: deps
	hack/lint.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# The demo shows what the mesh does today; see README.md.
demo: deps
	hack/demo.sh

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
