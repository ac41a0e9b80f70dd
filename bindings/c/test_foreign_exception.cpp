// A C++ exception thrown by a C callback (security review, finding 6). The callback
// types are `extern "C-unwind"` on the Rust side, so the exception may enter the
// library's frames (with plain "C" that was undefined behaviour). Rust cannot contain a
// foreign exception: std either aborts the process ("Rust cannot catch foreign
// exceptions") or, as it is allowed to, reports it like a panic; it never returns
// control to the app half-unwound. bindings/run-tests.sh runs this program and
// accepts only those two endings (an abort from C++'s std::terminate, which is what
// the undefined-behaviour path does in practice, fails).
#include <cstdio>
#include <stdexcept>

#include "ferrowg.h"

static void throwing_logger(void *, int32_t, const char *) {
    throw std::runtime_error("an app bug in a log callback");
}

int main() {
    const char *config = "[Interface]\nPrivateKey = yMnKy8zNzs/Q0dLT1NXW19jZ2tvc3d7f4OHi4+Tl5uc=\n";
    if (ferrowg_set_logger(throwing_logger, nullptr, 5) != FERROWG_OK) {
        std::printf("set_logger failed\n");
        return 2;
    }
    FerrowgTunnel t = 0;
    int rc;
    try {
        // Logs "tunnel started" on this thread: the callback throws inside the library.
        rc = ferrowg_tunnel_start_host(config, "127.0.0.1", &t);
    } catch (...) {
        std::printf("ESCAPED: the exception crossed a ferrowg export\n");
        return 3;
    }
    std::printf("CONTAINED rc=%d\n", rc);
    ferrowg_set_logger(nullptr, nullptr, 0);
    if (t != 0) {
        ferrowg_tunnel_stop(t);
        ferrowg_tunnel_free(t);
    }
    return 0;
}
