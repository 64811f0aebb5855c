# A hash comment
require /* inline */ "fileinto"; # after
/* a bracket comment
   over lines */
if /**/ header :contains "subject" "friday" { # trailing
    fileinto /* here too */ "Commented";
}
