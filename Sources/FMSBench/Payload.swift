import FMSProtocol

/// The realistic workload: a pickup-code notification with Chinese variables and order ids.
enum Payload {
    /// The template every benchmark message uses (3 variables, well under 70 characters).
    static let template = "【闪推】${name}您好，您在${store}的包裹已到，取件码${code}，请凭码领取。"

    private static let names = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周杰伦", "吴婷婷",
                                "徐强", "孙丽", "马超", "朱琳", "胡军", "郭燕", "何平", "高峰", "林雪", "欧阳明月"]
    private static let stores = ["上海徐汇店", "北京朝阳门店", "深圳南山科技园店", "杭州西湖店", "成都春熙路店",
                                 "广州天河城店", "武汉光谷店", "南京新街口店"]

    /// `count` messages; deterministic, all mobiles valid and distinct, customFmsIds ≤ 32 characters.
    static func entries(count: Int, seed: UInt64 = 0x00F5_BE4C) -> [BatchEntry] {
        var state = seed
        func next() -> UInt64 {  // SplitMix64
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let prefixes = ["134", "135", "136", "137", "138", "139", "150", "151", "152", "158", "159", "182", "187", "188"]
        return (0..<count).map { index in
            let random = next()
            let prefix = prefixes[Int(random % UInt64(prefixes.count))]
            let mobile = prefix + pad(Int((random >> 12) % 100_000_000), width: 8)
            let code = pad(Int((random >> 20) % 1_000_000), width: 6)
            return BatchEntry(mobile: mobile,
                              customFmsId: "ord-20260601-" + pad(index, width: 8),
                              content: ["name": names[Int((random >> 8) % UInt64(names.count))],
                                        "store": stores[Int((random >> 40) % UInt64(stores.count))],
                                        "code": code])
        }
    }

    static func pad(_ value: Int, width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
