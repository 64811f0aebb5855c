require "fileinto";
if address :localpart "from" ["bob", "alice"] {
    fileinto "Friends";
}
