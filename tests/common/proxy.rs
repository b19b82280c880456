//! A UDP relay on loopback in front of a real agent that drops some PDUs, standing in for what
//! a real snmpd cannot do: an embedded agent or a firewall that never answers GETBULK.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The BER tag of a GetBulkRequest-PDU.
const GETBULK: u8 = 0xa5;

/// Relays datagrams between clients and `upstream`, dropping every GETBULK; stopped on drop.
pub struct BulkDroppingRelay {
    port: u16,
    dropped: Arc<AtomicUsize>,
    relayed: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// The tag of the PDU in a v1/v2c message: SEQUENCE { version INTEGER, community OCTET
/// STRING, PDU }, with short or long definite lengths.
fn pdu_tag(message: &[u8]) -> Option<u8> {
    fn skip_header(data: &[u8]) -> Option<(usize, usize)> {
        // (header length, content length) of the TLV at the start of `data`.
        let first = *data.get(1)?;
        if first < 0x80 {
            return Some((2, first as usize));
        }
        let count = (first & 0x7f) as usize;
        let length = data.get(2..2 + count)?.iter().fold(0usize, |n, &b| n << 8 | b as usize);
        Some((2 + count, length))
    }
    let (header, _) = skip_header(message)?;
    let mut at = header;
    for _ in 0..2 {
        let (h, len) = skip_header(message.get(at..)?)?;
        at += h + len;
    }
    message.get(at).copied()
}

impl BulkDroppingRelay {
    pub fn start(upstream: SocketAddr) -> BulkDroppingRelay {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let port = socket.local_addr().unwrap().port();
        let (dropped, relayed, stop) = (Arc::default(), Arc::default(), Arc::new(AtomicBool::new(false)));
        let counters = (Arc::clone(&dropped), Arc::clone(&relayed), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let (dropped, relayed, stop): (Arc<AtomicUsize>, Arc<AtomicUsize>, Arc<AtomicBool>) = counters;
            // One upstream socket per client address, each with a thread relaying the answers.
            let mut clients: Vec<(SocketAddr, UdpSocket, JoinHandle<()>)> = Vec::new();
            let mut buf = vec![0u8; 65_536];
            while !stop.load(Ordering::Relaxed) {
                let Ok((n, client)) = socket.recv_from(&mut buf) else { continue };
                if pdu_tag(&buf[..n]) == Some(GETBULK) {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                relayed.fetch_add(1, Ordering::Relaxed);
                if !clients.iter().any(|(c, _, _)| *c == client) {
                    let up = UdpSocket::bind("127.0.0.1:0").unwrap();
                    up.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
                    let (answers, back, stop) =
                        (up.try_clone().unwrap(), socket.try_clone().unwrap(), stop.clone());
                    let relay = std::thread::spawn(move || {
                        let mut buf = vec![0u8; 65_536];
                        while !stop.load(Ordering::Relaxed) {
                            if let Ok(n) = answers.recv(&mut buf) {
                                let _ = back.send_to(&buf[..n], client);
                            }
                        }
                    });
                    clients.push((client, up, relay));
                }
                let (_, up, _) = clients.iter().find(|(c, _, _)| *c == client).unwrap();
                let _ = up.send_to(&buf[..n], upstream);
            }
            for (_, _, relay) in clients {
                let _ = relay.join();
            }
        });
        BulkDroppingRelay { port, dropped, relayed, stop, thread: Some(thread) }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// GETBULK requests dropped so far.
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Other requests passed to the agent so far.
    pub fn relayed(&self) -> usize {
        self.relayed.load(Ordering::Relaxed)
    }
}

impl Drop for BulkDroppingRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
