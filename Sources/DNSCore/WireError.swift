/// Why a piece of DNS wire data could not be read, and where.
///
/// Every parser in DNSCore throws this and nothing else; no input traps. `offset` is the byte
/// offset in the message (or buffer) at which the problem was found.
public struct WireError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// Fewer bytes remained than the field needs.
        case truncated(needed: Int, available: Int)
        /// A label longer than 63 bytes.
        case labelTooLong(Int)
        /// A name longer than 255 bytes in wire form.
        case nameTooLong
        /// A compression pointer that does not point strictly backwards.
        case forwardPointer(target: Int)
        /// A compression pointer where the record type forbids one (or too many hops).
        case pointerNotAllowed
        /// Label type 0b01 or 0b10 (extended / reserved).
        case badLabelType(UInt8)
        /// RDLENGTH disagrees with the record data of this type.
        case badRDLength(type: RRType, length: Int)
        /// A field holds a value the format does not allow.
        case invalidField(String)
        /// An OPT record in the answer or authority section, a second OPT, or one not at the root.
        case misplacedOPT(String)
        /// Bytes left after the last section the header announced.
        case trailingBytes(Int)
        /// The message does not fit its size limit even without records (header and question).
        case doesNotFit(limit: Int)
    }

    public var kind: Kind
    public var offset: Int

    public init(_ kind: Kind, at offset: Int) {
        self.kind = kind
        self.offset = offset
    }

    public var description: String {
        let what: String
        switch kind {
        case let .truncated(needed, available):
            what = "truncated: need \(needed) bytes, \(available) left"
        case let .labelTooLong(n): what = "label of \(n) bytes (limit 63)"
        case .nameTooLong: what = "name longer than 255 bytes"
        case let .forwardPointer(target): what = "compression pointer to \(target) does not point backwards"
        case .pointerNotAllowed: what = "compression pointer not allowed here"
        case let .badLabelType(b): what = "unsupported label type 0x\(String(b, radix: 16))"
        case let .badRDLength(type, length): what = "RDLENGTH \(length) is wrong for \(type)"
        case let .invalidField(s): what = s
        case let .misplacedOPT(s): what = "OPT record \(s)"
        case let .trailingBytes(n): what = "\(n) bytes after the last record"
        case let .doesNotFit(limit): what = "message does not fit in \(limit) bytes"
        }
        return "\(what) at offset \(offset)"
    }
}

/// Why presentation-format (zone file) text could not be read, and where.
public struct PresentationError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    /// 1-based line in the input, when known (0 otherwise).
    public var line: Int

    public init(_ message: String, line: Int = 0) {
        self.message = message
        self.line = line
    }

    public var description: String {
        line > 0 ? "line \(line): \(message)" : message
    }
}
