import Foundation
import FMSProtocol

/// Reads the messages of `fms batch` from CSV or JSON lines, checking every row.
///
/// CSV (RFC 4180 quoting) has a header naming `mobile`, optionally `id`, and variables;
/// JSON lines hold `{"mobile", "id", "vars"}` objects. The format is chosen by the first
/// non-blank character (`{` means JSON lines). Errors name `file:line` and the field.
enum BatchFileReader {
    /// Reads `path` (`-` for standard input).
    static func read(path: String) throws(CommandError) -> [BatchEntry] {
        let data: Data
        let name = path == "-" ? "<stdin>" : path
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard FileManager.default.fileExists(atPath: path) else {
                throw CommandError("batch: \(path): no such file", exitCode: .noInput)
            }
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw CommandError("batch: \(path): cannot read", exitCode: .noInput)
            }
            data = contents
        }
        guard var text = String(data: data, encoding: .utf8) else {
            throw CommandError("batch: \(name): not UTF-8 text", exitCode: .dataError)
        }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        return try parse(text, name: name)
    }

    /// Parses the text of a batch file called `name`.
    static func parse(_ text: String, name: String) throws(CommandError) -> [BatchEntry] {
        let firstContent = text.first { !$0.isWhitespace }
        let entries = firstContent == "{" ? try parseJSONLines(text, name: name) : try parseCSV(text, name: name)
        guard !entries.isEmpty else { throw CommandError("batch: \(name): no messages", exitCode: .dataError) }
        return entries
    }

    private static func fail(_ name: String, _ line: Int, _ message: String) -> CommandError {
        CommandError("batch: \(name):\(line): \(message)", exitCode: .dataError)
    }

    private static func check(_ entry: BatchEntry, name: String, line: Int) throws(CommandError) -> BatchEntry {
        let mobile = entry.mobile.trimmingSpaces()
        guard ProtocolText.isValidMobile(mobile) else {
            throw fail(name, line, "mobile '\(entry.mobile)' is not a mainland mobile number (11 digits starting with 1)")
        }
        var id = entry.customFmsId?.trimmingSpaces()
        if id?.isEmpty == true { id = nil }
        if let id, ProtocolText.vendorLength(id) > ProtocolText.maximumCustomFmsIdLength {
            throw fail(name, line, "id '\(id)' is longer than \(ProtocolText.maximumCustomFmsIdLength) characters")
        }
        return BatchEntry(mobile: mobile, customFmsId: id, content: entry.content)
    }

    static func parseJSONLines(_ text: String, name: String) throws(CommandError) -> [BatchEntry] {
        var entries: [BatchEntry] = []
        var lineNumber = 0
        // "\r\n" is one Character in Swift: split on it too, or a CRLF file reads as one line.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            lineNumber += 1
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            let value: JSONValue
            do {
                value = try JSONParser.parse(line)
            } catch {
                throw fail(name, lineNumber, error.description)
            }
            guard let members = value.objectMembers else { throw fail(name, lineNumber, "expected a JSON object") }
            for member in members where !["mobile", "id", "vars"].contains(member.key) {
                throw fail(name, lineNumber, "unknown field '\(member.key)' (fields are mobile, id, vars)")
            }
            guard let mobile = value["mobile"]?.lenientString else { throw fail(name, lineNumber, "field 'mobile' is missing") }
            var variables: TemplateVariables = [:]
            if let vars = value["vars"] {
                guard let list = vars.objectMembers else { throw fail(name, lineNumber, "field 'vars' is not an object") }
                for member in list {
                    guard let text = member.value.lenientString else {
                        throw fail(name, lineNumber, "vars.\(member.key) is \(member.value.kindName), not text or a number")
                    }
                    variables[member.key] = text
                }
            }
            let entry = BatchEntry(mobile: mobile, customFmsId: value["id"]?.lenientString, content: variables)
            entries.append(try check(entry, name: name, line: lineNumber))
        }
        return entries
    }

    static func parseCSV(_ text: String, name: String) throws(CommandError) -> [BatchEntry] {
        let rows = try csvRows(text, name: name)
        guard let (headerLine, header) = rows.first else { return [] }
        let columns = header.map { $0.trimmingSpaces() }
        guard let mobileColumn = columns.firstIndex(of: "mobile") else {
            throw fail(name, headerLine, "the header has no 'mobile' column (expected mobile,id,<var>...)")
        }
        var seen: Set<String> = []
        for column in columns {
            guard !column.isEmpty else { throw fail(name, headerLine, "the header has an empty column name") }
            guard seen.insert(column).inserted else { throw fail(name, headerLine, "column '\(column)' appears twice") }
        }
        let idColumn = columns.firstIndex(of: "id")
        var entries: [BatchEntry] = []
        for (lineNumber, fields) in rows.dropFirst() {
            if fields.count == 1, fields[0].trimmingSpaces().isEmpty { continue }
            guard fields.count == columns.count else {
                throw fail(name, lineNumber, "\(fields.count) fields; the header has \(columns.count)")
            }
            var variables: TemplateVariables = [:]
            for (index, column) in columns.enumerated() where index != mobileColumn && index != idColumn {
                variables[column] = fields[index]
            }
            let entry = BatchEntry(mobile: fields[mobileColumn], customFmsId: idColumn.map { fields[$0] }, content: variables)
            entries.append(try check(entry, name: name, line: lineNumber))
        }
        return entries
    }

    /// Splits CSV into rows of fields, each with the line number it starts on.
    static func csvRows(_ text: String, name: String) throws(CommandError) -> [(Int, [String])] {
        var rows: [(Int, [String])] = []
        var fields: [String] = []
        var field = ""
        var line = 1
        var rowStart = 1
        var inQuotes = false
        var quotedFieldClosed = false
        var characters = Array(text).makeIterator()
        var pending: Character? = characters.next()
        while let character = pending {
            pending = characters.next()
            if inQuotes {
                if character == "\"" {
                    if pending == "\"" {
                        field.append("\"")
                        pending = characters.next()
                    } else {
                        inQuotes = false
                        quotedFieldClosed = true
                    }
                } else {
                    if character == "\n" || character == "\r\n" { line += 1 }
                    field.append(character)
                }
                continue
            }
            switch character {
            case "\"":
                guard field.isEmpty, !quotedFieldClosed else { throw fail(name, line, "a quote inside an unquoted field") }
                inQuotes = true
            case ",":
                fields.append(field)
                field = ""
                quotedFieldClosed = false
            case "\n", "\r\n", "\r":
                fields.append(field)
                rows.append((rowStart, fields))
                fields = []
                field = ""
                quotedFieldClosed = false
                line += 1
                rowStart = line
            default:
                if quotedFieldClosed { throw fail(name, line, "text after a closing quote") }
                field.append(character)
            }
        }
        if inQuotes { throw fail(name, rowStart, "a quoted field is not closed") }
        if !field.isEmpty || !fields.isEmpty {
            fields.append(field)
            rows.append((rowStart, fields))
        }
        return rows.filter { !($0.1.count == 1 && $0.1[0].isEmpty) }
    }
}
