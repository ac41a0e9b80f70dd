//! ferrowg-ffi: the C ABI (cbindgen header in `include/ferrowg.h`) and uniffi bindings.
