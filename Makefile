# Quick start: `make demo` runs the brewery demo; `make test` builds and runs
# every test (normal build, the fuzzers, the ASan+UBSan build, then the
# in-process tests under ThreadSanitizer),
# and checks that an optimised Release build (-O3) compiles without warnings.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
RELEASE_BUILD ?= build-release
TSAN_BUILD ?= build-tsan
JOBS ?= $(shell nproc)
PREFIX ?= /usr/local

.PHONY: all deps build test test-fast test-asan test-tsan test-fuzz test-release demo bench clean format \
  install uninstall

all: build

deps:
	@scripts/install-deps

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test-fast: build
	cd $(BUILD) && ctest --output-on-failure --no-tests=error -j 2

test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DDTS_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure --no-tests=error -j 2

# The threads of one process (publishing threads without the node's lock,
# the loop thread, subscription callbacks without it) under ThreadSanitizer:
# the in-process tests.
test-tsan: deps
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DDTS_TSAN=ON
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target node_mem_test compress_node_test \
	  hostile_nack_test hostile_disc_test
	cd $(TSAN_BUILD) && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure --no-tests=error \
	  -R '^(node_mem_test|compress_node_test|hostile_nack_test|hostile_disc_test)$$'

test-fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDTS_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	cd $(FUZZ_BUILD) && ctest --output-on-failure --no-tests=error

# gcc -O3 warns of possibly uninitialised values that -O2 does not see: build the
# library and tools as a Release user would (-Werror), tests left out.
test-release: deps
	cmake -S . -B $(RELEASE_BUILD) -DCMAKE_BUILD_TYPE=Release -DDTS_TESTS=OFF
	cmake --build $(RELEASE_BUILD) -j $(JOBS)

test: test-fast test-release test-fuzz test-asan test-tsan

demo: build
	@scripts/demo $(BUILD)

bench: build
	@bench/run $(BUILD)

# The libraries, headers, pkg-config files (dts, dts-codec), the dts tool and
# its man page, under PREFIX (DESTDIR works too, for packaging).
# Its list of files is kept as $(BUILD)/installed.txt (the test install_consumer
# overwrites cmake's own install_manifest.txt).
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)
	cp $(BUILD)/install_manifest.txt $(BUILD)/installed.txt

# Removes what the last `make install` from this build put in place.
uninstall:
	@test -f $(BUILD)/installed.txt || { echo "nothing installed from $(BUILD)"; exit 1; }
	xargs -d '\n' rm -f -- < $(BUILD)/installed.txt
	rm -f $(BUILD)/installed.txt

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(RELEASE_BUILD)
