# "\\*" in a :matches key is a literal star.
if header :matches "X-Spam-Level" "\\*\\*\\*\\**" {
    discard;
    stop;
}
keep;
