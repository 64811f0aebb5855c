require "fileinto";
if allof (exists "From",
          not exists "List-Id",
          anyof (header :contains "subject" "money",
                 address :domain "to" "example.org")) {
    fileinto "Direct";
}
