//! End-to-end labs: network namespaces, veths and real processes, cleaned up even on panic.
