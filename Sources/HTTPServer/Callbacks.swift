internal import CMicroHTTPD
import Foundation
import HTTPTypes

// libmicrohttpd callbacks. They run on MHD worker threads, so they are plain nonisolated functions that
// find their Swift objects through `Unmanaged` context pointers: the daemon context is the `ServerCore`
// (kept alive by `HTTPServer`), `*req_cls` is the `RequestContext`.

/// MHD_OPTION_URI_LOG_CALLBACK: sees the undecoded request target first; creates the request's context.
func httpServerURILog(_ cls: UnsafeMutableRawPointer?, _ uri: UnsafePointer<CChar>?, _ connection: OpaquePointer?) -> UnsafeMutableRawPointer? {
    guard let cls else { return nil }
    let core = Unmanaged<ServerCore>.fromOpaque(cls).takeUnretainedValue()
    let context = RequestContext(rawURI: uri.map { String(cString: $0) } ?? "/", connection: connection)
    core.register(context)
    return Unmanaged.passRetained(context).toOpaque()
}

/// The access handler: called once with the headers, once per body chunk, then until a response is queued.
func httpServerAccessHandler(
    _ cls: UnsafeMutableRawPointer?, _ connection: OpaquePointer?, _ url: UnsafePointer<CChar>?,
    _ method: UnsafePointer<CChar>?, _ version: UnsafePointer<CChar>?, _ uploadData: UnsafePointer<CChar>?,
    _ uploadDataSize: UnsafeMutablePointer<Int>?, _ requestContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> Int32 {
    guard let cls, let connection, let method, let uploadDataSize, let raw = requestContext?.pointee else { return 0 }
    let core = Unmanaged<ServerCore>.fromOpaque(cls).takeUnretainedValue()
    let context = Unmanaged<RequestContext>.fromOpaque(raw).takeUnretainedValue()
    let keep = core.handle(context, connection: connection, method: String(cString: method), data: uploadData, size: uploadDataSize)
    return keep ? 1 : 0
}

/// MHD_OPTION_NOTIFY_COMPLETED: the request is over; drop the context's retain.
func httpServerRequestCompleted(
    _ cls: UnsafeMutableRawPointer?, _ connection: OpaquePointer?,
    _ requestContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, _ terminationCode: Int32
) {
    guard let cls, let requestContext, let raw = requestContext.pointee else { return }
    requestContext.pointee = nil
    let core = Unmanaged<ServerCore>.fromOpaque(cls).takeUnretainedValue()
    let context = Unmanaged<RequestContext>.fromOpaque(raw).takeRetainedValue()
    context.complete()
    core.unregister(context)
}

/// MHD_ContentReaderCallback for `.stream` bodies.
func httpServerStreamReader(_ cls: UnsafeMutableRawPointer?, _ position: UInt64, _ buffer: UnsafeMutablePointer<CChar>?, _ max: Int) -> Int {
    guard let cls, let buffer else { return MHDContentReader.endWithError }
    return Unmanaged<RequestContext>.fromOpaque(cls).takeUnretainedValue().read(into: buffer, max: max)
}

/// MHD_ContentReaderFreeCallback: the response no longer needs its context.
func httpServerStreamReaderFree(_ cls: UnsafeMutableRawPointer?) {
    guard let cls else { return }
    Unmanaged<RequestContext>.fromOpaque(cls).release()
}

/// MHD_KeyValueIterator collecting request headers into an `HTTPHeaders`.
func httpServerCollectHeader(_ cls: UnsafeMutableRawPointer?, _ kind: MHD_ValueKind, _ key: UnsafePointer<CChar>?, _ value: UnsafePointer<CChar>?) -> MHD_Result {
    guard let cls, let key else { return .YES }
    let headers = cls.assumingMemoryBound(to: HTTPHeaders.self)
    headers.pointee.add(name: String(cString: key), value: value.map { String(cString: $0) } ?? "")
    return .YES
}
