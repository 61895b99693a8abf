import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Free TCP ports for previews.
enum Ports {
    /// Ports handed out by any provider in this process and not yet released: two sessions allocated at the
    /// same moment must not both get a port that is free because neither app has started yet.
    static let reserved = Mutex<[Int: UUID]>([:])

    /// Whether nothing listens on `port` (IPv4, any address): binds a socket to it and closes it again.
    ///
    /// `SO_REUSEADDR` mirrors what servers set, so a port whose last connections linger in TIME_WAIT counts
    /// as free, while one with a listener on any address does not.
    static func isFree(_ port: Int) -> Bool {
        guard (1...65535).contains(port) else { return false }
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var yes: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        return withIPv4Address(port: port, host: INADDR_ANY) { bind(fd, $0, $1) } == 0
    }

    /// Calls `body` with the IPv4 socket address of `host` (in host byte order) and `port`, and its length.
    private static func withIPv4Address(port: Int, host: in_addr_t, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr = in_addr(s_addr: host.bigEndian)
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    /// Whether something accepts TCP connections on `127.0.0.1:port` now. The connect does not block: a refused
    /// one is answered at once on the loopback interface, and one that gets no answer within `wait` (a listener whose
    /// backlog is full drops the SYN, and a blocking connect would wait a second or more for the retry) counts as no.
    static func acceptsConnections(_ port: Int, wait: Duration = .milliseconds(10)) -> Bool {
        guard (1...65535).contains(port) else { return false }
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0 else { return false }
        if withIPv4Address(port: port, host: 0x7f00_0001, { connect(fd, $0, $1) }) == 0 { return true }
        guard errno == EINPROGRESS else { return false }
        var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&descriptor, 1, Int32((wait / .milliseconds(1)).rounded(.up))) == 1 else { return false }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else { return false }
        return error == 0
    }

    /// Reserves a free port in `range` for `sessionID` that is not in `taken`, starting the search at a
    /// random place so concurrent previewd processes rarely race for the same one.
    static func reserveFree(in range: ClosedRange<Int>, excluding taken: Set<Int>, for sessionID: UUID) -> Int? {
        let count = range.count
        let start = Int.random(in: 0..<count)
        return reserved.withLock { reserved -> Int? in
            for offset in 0..<count {
                let port = range.lowerBound + (start + offset) % count
                if taken.contains(port) || reserved[port] != nil { continue }
                if isFree(port) {
                    reserved[port] = sessionID
                    return port
                }
            }
            return nil
        }
    }

    /// Reserves `port` for `sessionID` unless another session of this process holds it.
    static func reserve(_ port: Int, for sessionID: UUID) -> Bool {
        reserved.withLock { reserved in
            if let owner = reserved[port], owner != sessionID { return false }
            reserved[port] = sessionID
            return true
        }
    }

    /// Forgets the reservation of `sessionID` (the preview was destroyed).
    static func release(for sessionID: UUID) {
        reserved.withLock { reserved in
            for (port, owner) in reserved where owner == sessionID { reserved.removeValue(forKey: port) }
        }
    }
}
