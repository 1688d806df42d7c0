import FMSClient
import FMSProtocol
import LuaKit

/// `fms.reports`, `fms.balance`, `fms.template.report` and `fms.template.query`.
enum GatewayBindings {
    static func reports(_ call: LuaCall, _ context: FMSModuleContext) throws(LuaBindingError) -> LuaCallResult {
        var max = ProtocolText.maximumReportsPerCall
        if call.argumentCount >= 1, call.typeName(1) != "nil" {
            let options = try call.options(1, allowed: ["max"])
            if let value = try options.optionalInteger("max") {
                guard value >= 1, value <= 1_000_000 else { throw options.fieldError("max", "must be 1 or more, got \(value)") }
                max = Int(value)
            }
        }
        let limit = max
        if let outbox = context.outbox { return OutboxBindings.reports(max: limit, outbox: outbox, context: context) }
        return FMSModule.suspend("fms.reports", context) { () throws(FMSClientError) -> [LuaValue] in
            let reports = try await context.backend.fetchReports(max: limit)
            return [.table(LuaTable(sequence: reports.map(table)))]
        }
    }

    /// A report as Lua sees it.
    static func table(_ report: DeliveryReport) -> LuaValue {
        var fields: [String: LuaValue] = [
            "mobile": .text(report.mobile), "fmsId": .text(report.fmsId), "state": .text(report.state.name),
            "desc": .text(report.desc), "receiveTime": .text(report.receiveTime), "submitTime": .text(report.submitTime),
            "delivered": .boolean(report.state.isDelivered),
        ]
        if let custom = report.customFmsId { fields["customFmsId"] = .text(custom) }
        return .table(LuaTable(fields))
    }

    static func balance(_ call: LuaCall, _ context: FMSModuleContext) throws(LuaBindingError) -> LuaCallResult {
        guard call.argumentCount == 0 else { throw call.argumentError(1, "no arguments expected") }
        return FMSModule.suspend("fms.balance", context) { () throws(FMSClientError) -> [LuaValue] in
            [.integer(try await context.backend.balance())]
        }
    }

    static func reportTemplate(_ call: LuaCall, _ context: FMSModuleContext) throws(LuaBindingError) -> LuaCallResult {
        let text = try call.string(1)
        guard !text.trimmingSpaces().isEmpty else { throw call.argumentError(1, "the template text is empty") }
        let length = ProtocolText.vendorLength(text)
        guard length <= ProtocolText.maximumTemplateLength else {
            throw call.argumentError(1, "the template is \(length) characters; at most \(ProtocolText.maximumTemplateLength)")
        }
        let names = ProtocolText.templateVariables(text)
        guard names.count <= ProtocolText.maximumTemplateVariables else {
            throw call.argumentError(1, "the template has \(names.count) variables; at most \(ProtocolText.maximumTemplateVariables)")
        }
        guard Set(names).count == names.count else { throw call.argumentError(1, "the template repeats a variable name") }
        return FMSModule.suspend("fms.template.report", context) { () throws(FMSClientError) -> [LuaValue] in
            let answer = try await context.backend.reportTemplate(text)
            return [.text(answer.templateId), .table(LuaTable(sequence: answer.variables.map(LuaValue.text)))]
        }
    }

    static func queryTemplate(_ call: LuaCall, _ context: FMSModuleContext) throws(LuaBindingError) -> LuaCallResult {
        let id = try call.string(1).trimmingSpaces()
        guard !id.isEmpty else { throw call.argumentError(1, "the template id is empty") }
        return FMSModule.suspend("fms.template.query", context) { () throws(FMSClientError) -> [LuaValue] in
            let status = try await context.backend.queryTemplate(id)
            let reviews = [status.cmcc, status.cucc, status.ctcc]
            return [.table(LuaTable([
                "templateId": .text(status.templateId), "cmcc": .text(status.cmcc.description),
                "cucc": .text(status.cucc.description), "ctcc": .text(status.ctcc.description),
                "approved": .boolean(reviews.allSatisfy { $0 == .approved }),
            ]))]
        }
    }
}
