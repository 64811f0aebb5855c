require "fileinto";
if header :is "subject" "[dev] Release plan für nächste Woche" {
    fileinto "Decoded";
}
if header :is "subject" "café¤uro" {
    fileinto "Latin";
}
