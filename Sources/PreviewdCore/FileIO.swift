import Foundation

/// Why a file could not be read, as the operating system put it.
struct FileReadError: Error {
    var reason: String
}

/// Reads a whole regular file, with the OS's reason ("No such file or directory") on failure.
func readFile(_ path: String) throws(FileReadError) -> Data {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw FileReadError(reason: String(cString: strerror(errno))) }
    defer { close(descriptor) }
    var info = stat()
    guard fstat(descriptor, &info) == 0 else { throw FileReadError(reason: String(cString: strerror(errno))) }
    guard info.st_mode & S_IFMT == S_IFREG else { throw FileReadError(reason: "not a regular file") }
    var data = Data()
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            throw FileReadError(reason: String(cString: strerror(errno)))
        }
        if count == 0 { break }
        data.append(contentsOf: buffer[0..<count])
    }
    return data
}
