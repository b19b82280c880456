//! Finds the system net-snmp library and generates bindings for the part of its API that
//! snmp-stream uses (the single-session `snmp_sess_*` API, PDUs, varbinds, large fd sets).
//!
//! Lookup order: `NETSNMP_LIB_DIR`/`NETSNMP_INCLUDE_DIR` overrides, then pkg-config (`netsnmp`),
//! then `net-snmp-config`.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const MISSING_NETSNMP: &str = "\n\nnetsnmp-sys: the net-snmp development files were not found.\n\
    Install them (Debian/Ubuntu: `apt-get install libsnmp-dev`; Fedora: `dnf install net-snmp-devel`),\n\
    or point NETSNMP_LIB_DIR and NETSNMP_INCLUDE_DIR at an installed copy.\n\n";

const MISSING_LIBCLANG: &str =
    "\n\nnetsnmp-sys: bindgen could not load libclang, which it needs to read the \
    net-snmp headers.\nInstall it (Debian/Ubuntu: `apt-get install libclang-dev`), or set LIBCLANG_PATH.\n\n";

struct Library {
    include_paths: Vec<PathBuf>,
}

fn from_env() -> Option<Library> {
    let lib_dir = env::var_os("NETSNMP_LIB_DIR")?;
    println!("cargo:rustc-link-search=native={}", PathBuf::from(lib_dir).display());
    println!("cargo:rustc-link-lib=netsnmp");
    let include_paths = env::var_os("NETSNMP_INCLUDE_DIR").map(PathBuf::from).into_iter().collect();
    Some(Library { include_paths })
}

fn from_pkg_config() -> Option<Library> {
    let lib = pkg_config::Config::new().atleast_version("5.7").probe("netsnmp").ok()?;
    Some(Library { include_paths: lib.include_paths })
}

fn from_net_snmp_config() -> Option<Library> {
    let run = |arg: &str| -> Option<String> {
        let out = Command::new("net-snmp-config").arg(arg).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let libs = run("--netsnmp-libs")?;
    for flag in libs.split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        } else if let Some(name) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib={name}");
        }
    }
    let include_paths = run("--cflags")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|flag| flag.strip_prefix("-I").map(PathBuf::from))
        .collect();
    Some(Library { include_paths })
}

fn main() {
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-env-changed=NETSNMP_LIB_DIR");
    println!("cargo:rerun-if-env-changed=NETSNMP_INCLUDE_DIR");

    let library = from_env()
        .or_else(from_pkg_config)
        .or_else(from_net_snmp_config)
        .unwrap_or_else(|| panic!("{MISSING_NETSNMP}"));
    for path in &library.include_paths {
        println!("cargo:include={}", path.display());
    }

    let mut builder = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(library.include_paths.iter().map(|p| format!("-I{}", p.display())))
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .layout_tests(false)
        .derive_default(true)
        .generate_comments(false);
    for function in [
        "snmp_sess_init",
        "snmp_sess_open",
        "snmp_sess_add_ex",
        "netsnmp_tdomain_transport_full",
        "netsnmp_transport_free",
        "snmp_sess_close",
        "snmp_sess_session",
        "snmp_sess_transport",
        "snmp_sess_async_send",
        "snmp_sess_read2",
        "snmp_sess_timeout",
        "snmp_sess_error",
        "snmp_pdu_create",
        "snmp_add_null_var",
        "snmp_free_pdu",
        "snmp_api_errstring",
        "netsnmp_ds_set_boolean",
        "netsnmp_ds_set_string",
        "netsnmp_large_fd_set_init",
        "netsnmp_large_fd_set_resize",
        "netsnmp_large_fd_setfd",
        "netsnmp_large_fd_clr",
        "netsnmp_large_fd_is_set",
        "netsnmp_large_fd_set_cleanup",
        // SNMPv3 (USM): library set-up, keys, the user table, report PDUs.
        "init_snmpv3",
        "snmp_call_callbacks",
        "netsnmp_register_loghandler",
        "netsnmp_remove_loghandler",
        "generate_Ku",
        "usm_get_user",
        "usm_remove_user",
        "usm_free_user",
        "usm_create_user_from_session",
        "snmpv3_get_report_type",
        "snmp_parse",
        "snmp_build",
        "get_enginetime",
    ] {
        builder = builder.allowlist_function(function);
    }
    for item in [
        "netsnmp_session",
        "netsnmp_pdu",
        "netsnmp_variable_list",
        "netsnmp_transport",
        "netsnmp_indexed_addr_pair",
        "netsnmp_large_fd_set",
        "counter64",
        "oid",
        "usmUser",
    ] {
        builder = builder.allowlist_type(item);
    }
    for var in [
        "SNMP_VERSION_1",
        "SNMP_VERSION_2c",
        "SNMP_VERSION_3",
        "SNMP_SEC_LEVEL_.*",
        "SNMP_SEC_MODEL_USM",
        "SNMP_FLAGS_DONT_PROBE",
        "SNMP_FLAGS_USER_CREATED",
        "SNMP_CALLBACK_LIBRARY",
        "SNMP_CALLBACK_POST_PREMIB_READ_CONFIG",
        "NETSNMP_LOGHANDLER_NONE",
        "USM_AUTH_KU_LEN",
        "USM_PRIV_KU_LEN",
        "usmHMAC.*Protocol",
        "usmNoAuthProtocol",
        "usmNoPrivProtocol",
        "usmDESPrivProtocol",
        "usmAES.*PrivProtocol",
        "NETSNMP_CALLBACK_OP_.*",
        "NETSNMP_DS_LIBRARY_ID",
        "NETSNMP_DS_LIB_DONT_READ_CONFIGS",
        "NETSNMP_DS_LIB_DISABLE_PERSISTENT_LOAD",
        "NETSNMP_DS_LIB_DISABLE_PERSISTENT_SAVE",
        "NETSNMP_DS_LIB_APPTYPE",
        "SNMP_ERR_.*",
        "SNMPERR_.*",
        "MAX_OID_LEN",
        "SNMP_MAX_RCV_MSG_SIZE",
        "UCD_MSG_FLAG_RESPONSE_PDU",
        "netsnmpUDPDomain",
    ] {
        builder = builder.allowlist_var(var);
    }

    // bindgen panics when libclang cannot be loaded; turn that into an actionable message.
    let bindings = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || builder.generate()))
        .unwrap_or_else(|_| panic!("{MISSING_LIBCLANG}"))
        .expect("netsnmp-sys: bindgen failed to read the net-snmp headers");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("bindings.rs");
    bindings.write_to_file(out).expect("netsnmp-sys: could not write bindings.rs");
}
