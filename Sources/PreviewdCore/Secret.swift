import PreviewdCrypto

/// A secret string (token, key, password) that never shows itself in logs, `print`, or `dump`.
///
/// Read the value deliberately with ``revealedValue`` at the one place that needs it.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let value: String

    public init(_ value: String) { self.value = value }

    /// The secret itself. Pass it only to the call that needs it; never log it.
    public var revealedValue: String { value }

    /// The secret's UTF-8 bytes, for MAC keys.
    public var revealedBytes: [UInt8] { Array(value.utf8) }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    /// An empty mirror, so `dump` and reflection-based printers see nothing inside.
    public var customMirror: Mirror { Mirror(self, children: [:], displayStyle: .struct) }

    /// Compares in constant time, so equality checks cannot leak the secret through timing.
    public static func == (lhs: Secret, rhs: Secret) -> Bool { SafeCompare.equals(lhs.value, rhs.value) }

    public func hash(into hasher: inout Hasher) { hasher.combine(value) }
}
