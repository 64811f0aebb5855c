require "fileinto";
if header :matches "subject" "Lunch on F?riday*" {
    fileinto "QuestionMark";
}
