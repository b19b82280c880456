//! # snmp-stream
//!
//! Fast SNMPv1/v2c/v3 collection over net-snmp: many GET and WALK requests in flight at once on
//! one event loop, each answered with one compact binary result buffer.
//!
//! | snmp-stream | net-snmp / SNMP |
//! |---|---|
//! | [`Request`] | one agent, one or more root OIDs; GET, or WALK (GETBULK on v2c and v3, GETNEXT on v1) |
//! | [`Community`], [`Usm`] | v1/v2c community; SNMPv3 USM user (`-u -l -a -A -x -X -n -e -E`) |
//! | [`SessionManager`] | many requests driven by one epoll loop: v1/v2c UDP on its own sockets, v3 and TCP as `snmp_sess_*` single sessions |
//! | [`Collector`] | a `SessionManager` on its own thread, fed and drained through channels |
//! | [`Config`] | `-r` retries, `-t` timeout, `-Cr` max-repetitions budget, concurrency |
//! | [`Response`] | status, structured [`SnmpError`]s, and the result buffer (`docs/FORMAT.md`) |
//! | [`ResultBuffer`] | a reader for that buffer |
//! | [`pgcopy`] | buffers to PostgreSQL binary COPY rows ([`copy_table`], [`copy_varbinds`]) |
//!
//! There is no MIB processing: OIDs are numeric, and values stay in their SNMP types.
//!
//! ```no_run
//! use snmp_stream::{Community, Config, Oid, Request, ResultBuffer, SessionManager, Version};
//! let community = Community::new("public", Version::V2c)?;
//! let request = Request::walk("127.0.0.1:1161", community, [Oid::parse("1.3.6.1.2.1.1")?]).build()?;
//! let mut manager = SessionManager::new(Config::new())?;
//! manager.add_request(request);
//! for response in manager.run_all() {
//!     let buffer = ResultBuffer::parse(&response.results).expect("engine output is valid");
//!     for record in buffer.records() {
//!         let record = record.expect("validated by parse");
//!         println!("{:?} {:?}", record.index().collect::<Vec<_>>(), record.value);
//!     }
//! }
//! # Ok::<(), snmp_stream::Error>(())
//! ```

#![deny(missing_docs)]

mod ber;
mod config;
mod encode;
mod engine;
mod error;
mod oid;
mod parse;
mod pdu;
pub mod pgcopy;
mod poller;
mod request;
mod resolve;
mod response;
mod session;
mod stream;
pub mod tag;
mod usm;
mod usm_crypto;
mod value;
mod walk;

pub use config::{Config, FieldValue, WalkMode, CONFIG_FIELDS};
pub use encode::{FormatError, Record, ResultBuffer, FORMAT_VERSION, HEADER_LEN, MAGIC};
pub use engine::SessionManager;
pub use error::{error_status_name, Error, ErrorKind, Result, SnmpError};
pub use oid::{format_subids, Oid, OidRange, MAX_OID_LEN};
pub use parse::{
    counter_rates, varbind_rows, ColumnData, CounterRates, Discontinuity, IndexField, Length, ParseError,
    ParsedTable, Poll, TableSpec, ValueKind, VARBIND_FRAME_COLUMNS,
};
pub use pgcopy::{copy_table, copy_varbinds, BufferSource, CopyError, PgType};
pub use request::{
    Community, Credentials, Request, RequestBuilder, RequestKind, Version, MAX_REQ_ID_LEN, MAX_ROOTS,
};
pub use response::{Response, Status};
pub use session::{usm_counters, UsmCounters};
pub use stream::Collector;
pub use tag::type_name;
pub use usm::{AuthProtocol, PrivProtocol, SecurityLevel, Usm, MIN_PASSPHRASE_LEN};
pub use value::RecordValue;
