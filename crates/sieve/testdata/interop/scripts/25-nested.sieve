require ["fileinto", "mailbox"];
if exists "From" {
    if address :domain :is "from" "example.net" {
        fileinto :create "Net";
    } elsif address :domain :matches "from" "*.example.com" {
        if header :contains "subject" "[dev]" {
            fileinto :create "Dev";
        } else {
            fileinto :create "OtherList";
        }
    } else {
        keep;
    }
}
