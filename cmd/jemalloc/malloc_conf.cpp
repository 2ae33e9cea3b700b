// jemalloc's compiled-in options, read at start-up (MALLOC_CONF in the
// environment still overrides them). Linked only with jemalloc (see
// cmd/CMakeLists.txt).
//
// background_thread: dirty pages are purged by jemalloc's own thread instead
// of inline in whichever request thread happens to free memory. In the spend
// benchmark (bench/README.md) that took engine CPU per spend from ~180 to
// ~130 us and throughput from ~5,500 to ~6,900 spends/s.
extern "C" {
// NOLINTNEXTLINE: the name and type are jemalloc's interface.
const char* malloc_conf = "background_thread:true";
}
