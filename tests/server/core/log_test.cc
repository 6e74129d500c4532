// Log lines in both formats: the readable default and one JSON object per line.
#include "core/log.h"

#include <gtest/gtest.h>

namespace onnxd::server {
namespace {

constexpr int64_t kTs = 1700000000123456;  // 2023-11-14T22:13:20.123456Z

TEST(LogFormatTest, DefaultLineIsLevelLetterTimestampMessage) {
  EXPECT_EQ(FormatLogLine(LogFormat::kDefault, LogLevel::kInfo, kTs, "model 'm' version 1 is READY",
                          {{"model", "m"}, {"state", "READY"}}),
            "I 2023-11-14T22:13:20.123456Z model 'm' version 1 is READY");
  EXPECT_EQ(FormatLogLine(LogFormat::kDefault, LogLevel::kError, kTs, "x", {}), "E 2023-11-14T22:13:20.123456Z x");
}

TEST(LogFormatTest, JsonLineHasTsLevelMsgAndFields) {
  EXPECT_EQ(FormatLogLine(LogFormat::kJson, LogLevel::kWarning, kTs, "say \"hi\"\n\tbye\\",
                          {{"model", "m"}, {"reason", std::string("a\x01z")}}),
            "{\"ts\":\"2023-11-14T22:13:20.123456Z\",\"level\":\"WARNING\",\"msg\":\"say \\\"hi\\\"\\n\\tbye\\\\\","
            "\"model\":\"m\",\"reason\":\"a\\u0001z\"}");
  // A field may not shadow the fixed keys.
  EXPECT_EQ(FormatLogLine(LogFormat::kJson, LogLevel::kVerbose, kTs, "m", {{"msg", "x"}, {"level", "y"}}),
            "{\"ts\":\"2023-11-14T22:13:20.123456Z\",\"level\":\"VERBOSE\",\"msg\":\"m\"}");
}

TEST(LogFormatTest, ParseFormatNames) {
  LogFormat f = LogFormat::kDefault;
  EXPECT_TRUE(ParseLogFormat("json", &f));
  EXPECT_EQ(f, LogFormat::kJson);
  EXPECT_TRUE(ParseLogFormat("default", &f));
  EXPECT_EQ(f, LogFormat::kDefault);
  EXPECT_TRUE(ParseLogFormat("ISO8601", &f));
  EXPECT_FALSE(ParseLogFormat("xml", &f));
}

TEST(LogFormatTest, VerboseLinesOnlyWithLogVerbose) {
  SetLogVerbosity(0);
  EXPECT_FALSE(LogEnabled(LogLevel::kVerbose));
  EXPECT_TRUE(LogEnabled(LogLevel::kInfo));
  SetLogVerbosity(1);
  EXPECT_TRUE(LogEnabled(LogLevel::kVerbose));
  SetLogVerbosity(0);
}

TEST(JsonQuoteTest, KeepsUtf8) { EXPECT_EQ(JsonQuote("caf\xc3\xa9"), "\"caf\xc3\xa9\""); }

}  // namespace
}  // namespace onnxd::server
