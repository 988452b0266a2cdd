import Foundation

/// Progress on stderr: a bar redrawn in place at a terminal
/// (`[#########.....]  45%  step 3 of 7`), plain lines when stderr is a file or a pipe.
struct ProgressBar {
    let interactive: Bool
    var width = 30
    private var last = ""
    private var drawn = false

    init(interactive: Bool) {
        self.interactive = interactive
    }

    /// Whether stderr is a terminal.
    static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) != 0 }

    /// Shows `percent` (0…100, nil: unknown) and a message.
    mutating func update(percent: Double?, message: String) {
        let line = interactive ? Self.bar(percent: percent, width: width) + " " + Self.percentText(percent ?? 0) + "  " + message
            : (percent.map { Self.percentText($0) + "  " } ?? "") + message
        guard line != last else { return }
        last = line
        if interactive {
            Output.err("\r" + Self.fit(line) + "\u{1B}[K")
            drawn = true
        } else {
            Output.err(line + "\n")
        }
    }

    /// Ends the bar's line (so what follows starts on a fresh one).
    mutating func finish() {
        if interactive, drawn { Output.err("\n") }
        drawn = false
    }

    /// `[#########.....]`
    static func bar(percent: Double?, width: Int) -> String {
        let fraction = min(max((percent ?? 0) / 100, 0), 1)
        let filled = Int((fraction * Double(width)).rounded(.down))
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
    }

    /// ` 45%` (right-aligned to 4 characters), `  ?%` when unknown.
    static func percentText(_ percent: Double?) -> String {
        guard let percent else { return "  ?%" }
        let text = "\(Int(min(max(percent, 0), 100).rounded(.down)))%"
        return String(repeating: " ", count: max(0, 4 - text.count)) + text
    }

    /// The line cut to the terminal's width, so redrawing in place never wraps.
    private static func fit(_ line: String) -> String {
        var size = winsize()
        guard ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 1 else { return line }
        let columns = Int(size.ws_col) - 1
        return line.count > columns ? String(line.prefix(columns)) : line
    }
}
