internal import CCurl
internal import CShims
import Foundation
import HTTPTypes
import Synchronization

/// `curl_global_init` must run once, before any handle exists; a global's initialiser runs exactly once,
/// thread-safely. SIGPIPE is ignored because a peer closing a TLS connection would otherwise kill the process
/// (libcurl cannot suppress it itself once CURLOPT_NOSIGNAL is set, which threads require).
private let curlGlobalInitialization: Bool = {
    signal(SIGPIPE, SIG_IGN)
    return curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK
}()

typealias TransferResult = Result<HTTPClientResponse, HTTPClientError>

/// A request waiting for the transfer thread.
struct PendingTransfer: Sendable {
    let id: UInt64
    let request: HTTPClientRequest
    let host: String
    /// Strings that must not appear in error messages (URL credentials, Authorization values).
    let secrets: [String]
    let continuation: CheckedContinuation<TransferResult, Never>
}

/// Owns the curl multi handle and the one thread that drives it.
///
/// Other threads only touch the inbox (under its lock) and call `curl_multi_wakeup`, which libcurl documents
/// as safe from any thread. Every other curl call happens on the transfer thread.
final class CurlEngine: Sendable {
    private struct Inbox {
        var pending: [PendingTransfer] = []
        var cancelled: [UInt64] = []
        var stopping = false
    }

    private let configuration: HTTPClient.Configuration
    /// The `CURLM *`, as an address so that this class stays Sendable; see the class comment.
    private let multiAddress: UInt
    private let inbox = Mutex(Inbox())
    private let nextID = Atomic<UInt64>(1)

    init(configuration: HTTPClient.Configuration) {
        _ = curlGlobalInitialization
        self.configuration = configuration
        guard let multi = curl_multi_init() else { fatalError("curl_multi_init failed: out of memory") }
        _ = CCurl_multi_setopt_long(multi, Int32(CURLMOPT_MAX_TOTAL_CONNECTIONS.rawValue), max(1, configuration.maxConnections))
        multiAddress = UInt(bitPattern: multi)
        let thread = Thread { [self] in run() }
        thread.name = "previewd-curl"
        thread.start()
    }

    private var multi: UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: multiAddress)! }

    func makeID() -> UInt64 { nextID.wrappingAdd(1, ordering: .relaxed).oldValue }

    func enqueue(_ transfer: PendingTransfer) {
        let refused = inbox.withLock { inbox -> Bool in
            // Checked under the lock: `cancel` sets the flag before taking it, so a cancellation is never missed.
            if inbox.stopping || Task.isCancelled { return true }
            inbox.pending.append(transfer)
            return false
        }
        if refused { transfer.continuation.resume(returning: .failure(.cancelled)) } else { curl_multi_wakeup(multi) }
    }

    func cancel(_ id: UInt64) {
        let waiting = inbox.withLock { inbox -> PendingTransfer? in
            if let index = inbox.pending.firstIndex(where: { $0.id == id }) { return inbox.pending.remove(at: index) }
            inbox.cancelled.append(id)
            return nil
        }
        waiting?.continuation.resume(returning: .failure(.cancelled))
        curl_multi_wakeup(multi)
    }

    func stop() {
        inbox.withLock { $0.stopping = true }
        curl_multi_wakeup(multi)
    }

    // MARK: Transfer thread

    private func run() {
        var active: [UInt: Transfer] = [:]
        while true {
            let (pending, cancelled, stopping) = inbox.withLock { inbox in
                defer { inbox.pending = []; inbox.cancelled = [] }
                return (inbox.pending, inbox.cancelled, inbox.stopping)
            }
            for item in pending {
                let transfer = Transfer(item, configuration: configuration)
                if let failure = transfer.configure() {
                    transfer.finish(.failure(failure))
                } else if curl_multi_add_handle(multi, transfer.easy) != CURLM_OK {
                    transfer.finish(.failure(.transport(code: -1, message: "libcurl refused the transfer")))
                } else {
                    active[UInt(bitPattern: transfer.easy)] = transfer
                }
            }
            for id in cancelled {
                guard let (key, transfer) = active.first(where: { $0.value.id == id }) else { continue }
                active[key] = nil
                curl_multi_remove_handle(multi, transfer.easy)
                transfer.finish(.failure(.cancelled))
            }
            if stopping {
                for transfer in active.values {
                    curl_multi_remove_handle(multi, transfer.easy)
                    transfer.finish(.failure(.cancelled))
                }
                break
            }
            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            var queued: Int32 = 0
            while let message = curl_multi_info_read(multi, &queued) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle,
                      let transfer = active.removeValue(forKey: UInt(bitPattern: easy)) else { continue }
                let code = message.pointee.data.result
                curl_multi_remove_handle(multi, easy)
                transfer.finish(transfer.result(for: code))
            }
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
        curl_multi_cleanup(multi)
    }
}

/// One transfer's easy handle and the response being collected. Lives on the transfer thread only.
private final class Transfer {
    let id: UInt64
    let easy: UnsafeMutableRawPointer
    private let pending: PendingTransfer
    private let configuration: HTTPClient.Configuration
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
    fileprivate var body = Data()
    fileprivate var headers = HTTPHeaders()
    fileprivate var exceededLimit = false
    private var finished = false

    init(_ pending: PendingTransfer, configuration: HTTPClient.Configuration) {
        self.id = pending.id
        self.pending = pending
        self.configuration = configuration
        guard let easy = curl_easy_init() else { fatalError("curl_easy_init failed: out of memory") }
        self.easy = easy
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        curl_easy_cleanup(easy)
        curl_slist_free_all(headerList)
        errorBuffer.deallocate()
    }

    var maxResponseBytes: Int { configuration.maxResponseBytes }

    /// Sets every option; returns the failure if libcurl rejects one.
    func configure() -> HTTPClientError? {
        let request = pending.request
        var failed = false
        func set(_ option: CURLoption, _ value: Int) { failed = failed || CCurl_easy_setopt_long(easy, Int32(option.rawValue), value) != 0 }
        func set(_ option: CURLoption, _ value: String) {
            // String options are copied by libcurl (since 7.17), so the pointer may end with this scope.
            failed = failed || value.withCString { CCurl_easy_setopt_pointer(easy, Int32(option.rawValue), $0) } != 0
        }
        func set(_ option: CURLoption, pointer: UnsafeRawPointer?) { failed = failed || CCurl_easy_setopt_pointer(easy, Int32(option.rawValue), pointer) != 0 }
        func set(_ option: CURLoption, large value: Int64) { failed = failed || CCurl_easy_setopt_off_t(easy, Int32(option.rawValue), value) != 0 }
        func milliseconds(_ duration: Duration) -> Int {
            max(1, Int(duration.components.seconds) * 1000 + Int(duration.components.attoseconds / 1_000_000_000_000_000))
        }

        set(CURLOPT_URL, request.url)
        set(CURLOPT_PROTOCOLS_STR, "http,https")
        set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        set(CURLOPT_NOSIGNAL, 1)
        set(CURLOPT_ERRORBUFFER, pointer: errorBuffer)
        set(CURLOPT_CONNECTTIMEOUT_MS, milliseconds(configuration.connectTimeout))
        set(CURLOPT_TIMEOUT_MS, milliseconds(request.timeout ?? configuration.timeout))
        set(CURLOPT_SSL_VERIFYPEER, 1)
        set(CURLOPT_SSL_VERIFYHOST, 2)
        if let path = configuration.caBundlePath { set(CURLOPT_CAINFO, path) }
        if let proxy = configuration.proxy { set(CURLOPT_PROXY, proxy) }
        if let noProxy = configuration.noProxy { set(CURLOPT_NOPROXY, noProxy) }
        set(CURLOPT_FOLLOWLOCATION, configuration.followRedirects ? 1 : 0)
        set(CURLOPT_MAXREDIRS, configuration.maxRedirects)
        set(CURLOPT_TCP_KEEPALIVE, 1)
        set(CURLOPT_ACCEPT_ENCODING, "")
        set(CURLOPT_MAXFILESIZE_LARGE, large: Int64(configuration.maxResponseBytes))
        if request.headers["User-Agent"] == nil { set(CURLOPT_USERAGENT, configuration.userAgent) }

        let context = UnsafeRawPointer(Unmanaged.passUnretained(self).toOpaque())
        failed = failed || CCurl_easy_setopt_callback(easy, Int32(CURLOPT_WRITEFUNCTION.rawValue), httpClientWriteBody) != 0
        set(CURLOPT_WRITEDATA, pointer: context)
        failed = failed || CCurl_easy_setopt_callback(easy, Int32(CURLOPT_HEADERFUNCTION.rawValue), httpClientWriteHeader) != 0
        set(CURLOPT_HEADERDATA, pointer: context)

        var lines = request.headers.map { field in
            // "Name;" is how libcurl sends a header with an empty value.
            field.value.isEmpty ? "\(field.name);" : "\(field.name): \(field.value)"
        }
        let method = request.method
        if method == .head {
            set(CURLOPT_NOBODY, 1)
        } else if request.body != nil || method == .post || method == .put || method == .patch {
            let body = request.body ?? Data()
            set(CURLOPT_POSTFIELDSIZE_LARGE, large: Int64(body.count))
            failed = failed || body.withUnsafeBytes { raw in
                let empty: StaticString = ""
                let base = raw.baseAddress ?? UnsafeRawPointer(empty.utf8Start)
                return CCurl_easy_setopt_pointer(easy, Int32(CURLOPT_COPYPOSTFIELDS.rawValue), base)
            } != 0
            if method != .post { set(CURLOPT_CUSTOMREQUEST, method.rawValue) }
            // Without this libcurl labels the body application/x-www-form-urlencoded.
            if request.headers["Content-Type"] == nil { lines.append("Content-Type:") }
        } else if method != .get {
            set(CURLOPT_CUSTOMREQUEST, method.rawValue)
        }
        for line in lines {
            guard let list = curl_slist_append(headerList, line) else { return .transport(code: -1, message: "out of memory") }
            headerList = list
        }
        if headerList != nil { set(CURLOPT_HTTPHEADER, pointer: UnsafeRawPointer(headerList)) }
        return failed ? .transport(code: -1, message: "libcurl rejected a transfer option") : nil
    }

    func finish(_ result: TransferResult) {
        guard !finished else { return }
        finished = true
        pending.continuation.resume(returning: result)
    }

    func result(for code: CURLcode) -> TransferResult {
        if code == CURLE_OK {
            var status = 0
            _ = CCurl_easy_getinfo_long(easy, Int32(CURLINFO_RESPONSE_CODE.rawValue), &status)
            return .success(HTTPClientResponse(status: status, headers: headers, body: body))
        }
        return .failure(error(for: code))
    }

    private func error(for code: CURLcode) -> HTTPClientError {
        switch code {
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT: return .invalidURL
        case CURLE_COULDNT_RESOLVE_HOST: return .dnsFailure(host: pending.host)
        case CURLE_COULDNT_CONNECT: return .connectFailed(host: pending.host, message: message(for: code))
        case CURLE_OPERATION_TIMEDOUT: return .timedOut
        case CURLE_FILESIZE_EXCEEDED: return .tooLarge
        case CURLE_WRITE_ERROR where exceededLimit: return .tooLarge
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
             CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH,
             CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED,
             CURLE_SSL_CRL_BADFILE, CURLE_SSL_SHUTDOWN_FAILED, CURLE_SSL_CLIENTCERT:
            return .tls(message: message(for: code))
        default: return .transport(code: Int(code.rawValue), message: message(for: code))
        }
    }

    /// libcurl's detailed message (or its generic one), with any credential of this request masked.
    private func message(for code: CURLcode) -> String {
        var text = String(cString: errorBuffer)
        if text.isEmpty { text = String(cString: curl_easy_strerror(code)) }
        for secret in pending.secrets { text = text.replacingOccurrences(of: secret, with: "***") }
        return text
    }

    /// Takes one header line; a status line starts a new header block (redirects, `100 Continue`).
    fileprivate func receiveHeader(_ line: String) {
        let trimmed = line.trimmingCharacters(in: .newlines)
        if trimmed.hasPrefix("HTTP/") {
            headers = HTTPHeaders()
        } else if let colon = trimmed.firstIndex(of: ":") {
            headers.add(name: String(trimmed[..<colon]), value: trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
    }
}

/// CURLOPT_WRITEFUNCTION: appends body bytes; returning less than given makes libcurl fail the transfer.
private func httpClientWriteBody(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?) -> Int {
    guard let data, let context else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    guard transfer.body.count + length <= transfer.maxResponseBytes else {
        transfer.exceededLimit = true
        return 0
    }
    data.withMemoryRebound(to: UInt8.self, capacity: length) { transfer.body.append($0, count: length) }
    return length
}

/// CURLOPT_HEADERFUNCTION: one complete header line per call.
private func httpClientWriteHeader(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?) -> Int {
    guard let data, let context else { return 0 }
    let length = size * count
    let line = data.withMemoryRebound(to: UInt8.self, capacity: length) { String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self) }
    Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue().receiveHeader(line)
    return length
}
