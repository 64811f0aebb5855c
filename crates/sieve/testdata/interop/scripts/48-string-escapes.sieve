require "fileinto";
# \" and \\ are escapes; before any other character the backslash goes.
if header :contains "subject" "\L\u\n\c\h" {
    fileinto "Escaped";
}
if header :contains "x-star" "a*b?c\\d" {
    fileinto "Backslash";
}
