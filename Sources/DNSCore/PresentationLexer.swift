/// One token of presentation text.
struct PresentationToken: Sendable {
    /// The text with its escapes kept (`\DDD`, `\X`) and without surrounding quotes: names
    /// resolve escapes themselves, and `\#` must stay distinguishable from `#`.
    var raw: [UInt8]
    /// Whether the token was written in double quotes.
    var quoted: Bool
    /// Whether it follows the previous token with no whitespace between, as the quoted value
    /// in `alpn="h2,h3"` follows `alpn=`.
    var attached: Bool
    /// 1-based line where the token starts.
    var line: Int

    var isGenericMarker: Bool { !quoted && raw == [0x5C, 0x23] }  // \#
}

/// One logical line of a zone file: the tokens up to a newline outside parentheses.
struct PresentationLine: Sendable {
    var tokens: [PresentationToken]
    /// Line where the entry starts.
    var line: Int
    /// The line began with a space or tab, so the owner is the previous record's (RFC 1035 §5.1).
    var blankOwner: Bool
}

/// Splits presentation text into logical lines of tokens (RFC 1035 §5.1).
///
/// Handles `;` comments, parentheses that let an entry span lines (not nested), double-quoted
/// strings (which may not span lines), and backslash escapes, which it keeps in the tokens.
/// `(`, `)` and `"` also end an unquoted token. Every malformation throws with its line.
struct PresentationLexer {
    private let b: [UInt8]
    private var i = 0
    private var line = 1
    private var out: [PresentationLine] = []
    private var tokens: [PresentationToken] = []
    private var cur: [UInt8] = []
    private var inToken = false
    private var tokenStart = 0
    private var tokenLine = 1
    private var lastTokenEnd = -1
    private var parenLine = 0
    private var entryLine = 1
    private var blankOwner = false

    private init(_ bytes: [UInt8]) { b = bytes }

    /// The logical lines of `bytes`; lines with no tokens (blank or comment only) are left out.
    static func lines(_ bytes: [UInt8]) throws(PresentationError) -> [PresentationLine] {
        var lx = PresentationLexer(bytes)
        try lx.run()
        return lx.out
    }

    private mutating func run() throws(PresentationError) {
        var inParens = false
        var atLineStart = true
        while i < b.count {
            let c = b[i]
            if atLineStart {
                atLineStart = false
                if !inParens && tokens.isEmpty {
                    entryLine = line
                    blankOwner = c == 0x20 || c == 0x09
                }
            }
            switch c {
            case 0x0A:
                endToken()
                if !inParens { endEntry() }
                line += 1
                atLineStart = true
                i += 1
            case 0x20, 0x09, 0x0D:
                endToken()
                i += 1
            case 0x3B:  // ; comment to the end of the line
                endToken()
                while i < b.count && b[i] != 0x0A { i += 1 }
            case 0x28:  // (
                endToken()
                guard !inParens else {
                    throw PresentationError("'(' inside parentheses opened on line \(parenLine)", line: line)
                }
                inParens = true
                parenLine = line
                i += 1
            case 0x29:  // )
                endToken()
                guard inParens else { throw PresentationError("')' without a matching '('", line: line) }
                inParens = false
                i += 1
            case 0x22:  // "
                endToken()
                try quotedString()
            case 0x5C:  // backslash: keep it and the escaped byte in the token
                guard i + 1 < b.count else { throw PresentationError("'\\' at the end of the text", line: line) }
                guard b[i + 1] != 0x0A else { throw PresentationError("'\\' at the end of a line", line: line) }
                startToken()
                cur.append(c)
                cur.append(b[i + 1])
                i += 2
            default:
                startToken()
                cur.append(c)
                i += 1
            }
        }
        endToken()
        if inParens {
            throw PresentationError("'(' opened on line \(parenLine) is never closed", line: parenLine)
        }
        endEntry()
    }

    private mutating func startToken() {
        guard !inToken else { return }
        inToken = true
        tokenStart = i
        tokenLine = line
    }

    private mutating func endToken() {
        guard inToken else { return }
        tokens.append(PresentationToken(raw: cur, quoted: false, attached: tokenStart == lastTokenEnd,
                                        line: tokenLine))
        lastTokenEnd = i
        cur = []
        inToken = false
    }

    private mutating func endEntry() {
        guard !tokens.isEmpty else { return }
        out.append(PresentationLine(tokens: tokens, line: entryLine, blankOwner: blankOwner))
        tokens = []
    }

    /// Reads from the opening quote at `i` to the closing one.
    private mutating func quotedString() throws(PresentationError) {
        let start = i
        let startLine = line
        var s: [UInt8] = []
        i += 1
        while i < b.count {
            let c = b[i]
            if c == 0x22 {
                i += 1
                tokens.append(PresentationToken(raw: s, quoted: true, attached: start == lastTokenEnd, line: startLine))
                lastTokenEnd = i
                return
            }
            if c == 0x0A { break }
            if c == 0x5C {
                guard i + 1 < b.count, b[i + 1] != 0x0A else { break }
                s.append(c)
                s.append(b[i + 1])
                i += 2
                continue
            }
            s.append(c)
            i += 1
        }
        throw PresentationError("quoted string is not closed before the end of the line", line: startLine)
    }
}
